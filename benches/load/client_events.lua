-- wrk script: POST a unique `client.activity` event per request to /hooks/{tenant}/events, over
-- 1,000 clients. Unlike `ingest`, these are events workflows act on: each also goes through the
-- workflow queue, and the executor reads and updates its client.
hook = "events"

function body(prefix, n)
  return string.format(
    '{"id":"evt_%s_%d","type":"client.activity","occurred_at":"2026-11-22T10:00:00Z","subject":{"client_id":"c_%d"},"data":{"n":%d}}',
    prefix, n, n % 1000, n)
end

dofile("benches/load/common.lua")
