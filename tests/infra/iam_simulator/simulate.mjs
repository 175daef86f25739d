// Evaluates IAM requests with @cloud-copilot/iam-simulate, a maintained AWS IAM simulator that
// implements every condition operator (moto, which the tests use for the S3 API, ignores
// StringLike conditions). One JSON request per stdin line, one JSON answer per stdout line:
//   {"policies": [<identity policy document>...], "action": "s3:ListBucket",
//    "resource": "arn:aws:s3:::bucket", "account": "123456789012", "principal": "arn:...",
//    "context": {"s3:prefix": "..."}}
//   -> {"result": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied"} or {"error": ...}
import { createInterface } from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (!line.trim()) continue
  let answer
  try {
    const request = JSON.parse(line)
    const response = await runSimulation(
      {
        identityPolicies: request.policies.map((policy, index) => ({ name: `policy-${index}`, policy })),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        request: {
          action: request.action,
          principal: request.principal,
          resource: { accountId: request.account, resource: request.resource },
          contextVariables: request.context || {}
        }
      },
      {}
    )
    answer = response.resultType === 'error' ? { error: response.errors } : { result: response.overallResult }
  } catch (error) {
    answer = { error: String(error) }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
