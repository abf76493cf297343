-- wrk script: POST a unique automation run per request to /hooks/{tenant}/runs, spread over 50
-- scenarios.
hook = "runs"

function body(prefix, n)
  return string.format(
    '{"run_id":"run_%s_%d","scenario_id":"scn_%d","platform":"make","status":"success","credits_total":12.5,"execution_time_ms":840,"has_idempotency_key":true}',
    prefix, n, n % 50)
end

dofile("benches/load/common.lua")
