-- wrk script: POST pre-signed Stripe events (VIGIL_STRIPE_EVENTS, one `signature<TAB>body` per
-- line) to /hooks/{tenant}/stripe; of VIGIL_WRK_THREADS threads, thread i sends lines i,
-- i + threads, ...
hook = "stripe"
bearer = false
local events = {}

function body(prefix, n)
  local event = events[n]
  if event == nil then
    -- Out of pre-signed events: repeat the first. Answered 200 as a duplicate, it would still
    -- count in the 2xx tally, so ingest.sh signs more than the run can send.
    event = events[1]
  end
  return event.body, "Stripe-Signature: " .. event.signature .. "\r\n"
end

dofile("benches/load/common.lua")

local common_init = init
function init(args)
  common_init(args)
  local threads = tonumber(os.getenv("VIGIL_WRK_THREADS")) or 1
  local thread = tonumber(string.match(prefix, "^(%d+)_")) or 1
  local i = 0
  for line in io.lines(os.getenv("VIGIL_STRIPE_EVENTS")) do
    i = i + 1
    if i % threads == thread % threads then
      local signature, text = string.match(line, "^([^\t]+)\t(.*)$")
      table.insert(events, {signature = signature, body = text})
    end
  end
end
