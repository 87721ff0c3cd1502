#!/bin/bash
# LocalStack ready hook. The bucket and table are created by Samsa's own setup code (the
# `setup` service in docker-compose.yml runs bin/setup-aws.ts), so that LocalStack, moto and
# real AWS get identical resources; this hook only reports what is there.
echo "[samsa] LocalStack ready: S3 and DynamoDB on :4566"
awslocal s3api list-buckets --query 'Buckets[].Name' --output text 2>/dev/null || true
awslocal dynamodb list-tables --query 'TableNames' --output text 2>/dev/null || true
