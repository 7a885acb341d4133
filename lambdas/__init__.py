"""AWS Lambda functions, one package each (boto3 and the standard library; publish also draws
with matplotlib, from its layer)."""
