#!/usr/bin/env bash
# LocalStack ready hook: a private bucket, the alert topic, and the shipped banking.csv.
set -euo pipefail
awslocal s3api create-bucket --bucket bank-ml
awslocal s3api put-public-access-block --bucket bank-ml --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
awslocal sns create-topic --name bank-ml-alerts
awslocal s3 cp /seed/banking.csv s3://bank-ml/banking.csv
