#!/usr/bin/env python3
"""CDK entry point: `cdk synth` / `cdk deploy` run this with the cdk.json context.

`python3 app.py` without the CLI reads cdk.json itself, so the template can also be
synthesized where the Node CLI is not installed (into ./cdk.out).
"""

import os

# jsii warns on every start that Node 20 is end-of-life; the warning is noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from infra.application import create_app, environment_from_os, running_under_cdk_cli
from infra.settings import load_cdk_json_context


def main() -> None:
    if running_under_cdk_cli():
        app, _ = create_app(env=environment_from_os())
    else:
        app, _ = create_app(load_cdk_json_context(), outdir="cdk.out", env=environment_from_os())
    app.synth()


if __name__ == "__main__":
    main()
