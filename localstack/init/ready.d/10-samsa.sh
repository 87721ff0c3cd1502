#!/bin/bash
# LocalStack ready hook. Samsa's bucket and table are created from the host by Samsa's own setup
# code (`npm run dev:localstack`, or `npm run setup:aws` with AWS_ENDPOINT_URL=http://localhost:4566),
# so that LocalStack, moto and real AWS get identical resources and no container runs the host's
# node_modules; this hook only reports what is there.
echo "[samsa] LocalStack ready: S3 and DynamoDB on :4566 — now run 'npm run dev:localstack' on the host"
awslocal s3api list-buckets --query 'Buckets[].Name' --output text 2>/dev/null || true
awslocal dynamodb list-tables --query 'TableNames' --output text 2>/dev/null || true
