#!/usr/bin/env bash
# LocalStack ready hook (docker-compose.yaml mounts it at /etc/localstack/init/ready.d/): the private bucket,
# the alert topic with a queue subscribed to it (to read what the DAGs sent), and the shipped banking.csv.
# The names are the DAGs' defaults (Params bucket and sns_topic_arn; tests/unit/test_compose.py checks them).
#
# LocalStack keeps one namespace per account and takes a 12-digit access key ID as the account: the hook works
# as 123456789012, the account in the DAGs' default topic ARN and the login of aws_default in
# docker-compose.yaml. Local only: these are LocalStack's dummy credentials, not an AWS account's.
set -euo pipefail
export AWS_ACCESS_KEY_ID=123456789012 AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1

# Private: every public-access block on. No bucket policy and no ACL is ever set here (the original lab made
# its bucket public; this project never does).
awslocal s3api create-bucket --bucket bank-ml
awslocal s3api put-public-access-block --bucket bank-ml --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true

topic_arn=$(awslocal sns create-topic --name bank-ml-alerts --query TopicArn --output text)
queue_url=$(awslocal sqs create-queue --queue-name bank-ml-alerts-inbox --query QueueUrl --output text)
queue_arn=$(awslocal sqs get-queue-attributes --queue-url "$queue_url" --attribute-names QueueArn \
  --query Attributes.QueueArn --output text)
awslocal sns subscribe --topic-arn "$topic_arn" --protocol sqs --notification-endpoint "$queue_arn" >/dev/null

# File events: S3 notifies this queue of every new raw/*.csv object; the training DAG's watcher (the
# triggerer) reads it and starts one run per new file. The queue policy lets only this bucket's
# notifications in (the same set-up as README "File events" gives for real AWS).
incoming_url=$(awslocal sqs create-queue --queue-name bank-ml-incoming --query QueueUrl --output text)
incoming_arn=$(awslocal sqs get-queue-attributes --queue-url "$incoming_url" --attribute-names QueueArn \
  --query Attributes.QueueArn --output text)
attributes=$(python3 -c '
import json, sys
arn = sys.argv[1]
statement = {"Sid": "S3SendsNewFileNotifications", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
             "Action": "sqs:SendMessage", "Resource": arn,
             "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bank-ml"},
                           "StringEquals": {"aws:SourceAccount": "123456789012"}}}
print(json.dumps({"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}))' "$incoming_arn")
awslocal sqs set-queue-attributes --queue-url "$incoming_url" --attributes "$attributes"
awslocal s3api put-bucket-notification-configuration --bucket bank-ml --notification-configuration "$(printf '{"QueueConfigurations":[{"Id":"bank-ml-new-training-files","QueueArn":"%s","Events":["s3:ObjectCreated:*"],"Filter":{"Key":{"FilterRules":[{"Name":"prefix","Value":"raw/"},{"Name":"suffix","Value":".csv"}]}}}]}' "$incoming_arn")"

awslocal s3 cp /seed/banking.csv s3://bank-ml/banking.csv
echo "bank-ml ready: s3://bank-ml/banking.csv (private bucket), topic $topic_arn, inbox $queue_url," \
  "new raw/*.csv files notify $incoming_url"
