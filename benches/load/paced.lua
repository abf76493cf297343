-- wrk script: POST a unique small domain event to /hooks/{tenant}/events, each connection waiting
-- VIGIL_PACE_MS (default 10) between requests: a tenant sending well within its rate, whose
-- latency the noisy-neighbour load measures.
hook = "events"
local pace = tonumber(os.getenv("VIGIL_PACE_MS") or "10")

function body(prefix, n)
  return string.format(
    '{"id":"evt_%s_%d","type":"load.test","occurred_at":"2026-11-22T10:00:00Z","subject":{"client_id":"c_1"},"data":{"n":%d}}',
    prefix, n, n)
end

function delay()
  return pace
end

dofile("benches/load/common.lua")
