-- wrk script: POST a unique `message.received` event per request; a workflow turns each into a
-- run (webhook → IF → signed HTTP notify). 1,000 clients in turn; every tenth text is urgent.
hook = "events"

function body(prefix, n)
  local text = (n % 10 == 0) and "urgent: call me" or "hello"
  return string.format(
    '{"id":"msg_%s_%d","type":"message.received","occurred_at":"2026-11-22T10:00:00Z","subject":{"client_id":"c_%d"},"data":{"text":"%s"}}',
    prefix, n, n % 1000, text)
end

dofile("benches/load/common.lua")
