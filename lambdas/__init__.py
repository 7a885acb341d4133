"""AWS Lambda functions, one package each (boto3 and the standard library only)."""
