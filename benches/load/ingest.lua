-- wrk script: POST a unique small domain event per request to /hooks/{tenant}/events.
hook = "events"

function body(prefix, n)
  return string.format(
    '{"id":"evt_%s_%d","type":"load.test","occurred_at":"2026-11-22T10:00:00Z","subject":{"client_id":"c_1"},"data":{"n":%d}}',
    prefix, n, n)
end

dofile("benches/load/common.lua")
