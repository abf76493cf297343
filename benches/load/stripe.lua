-- wrk script: POST pre-signed Stripe events (VIGIL_STRIPE_EVENTS, one `signature<TAB>body` per
-- line) to /hooks/{tenant}/stripe; thread i sends lines i, i + threads, ...
hook = "stripe"
local events = {}

function body(prefix, n)
  local event = events[n]
  if event == nil then
    -- Out of pre-signed events: repeat the first (answered 200 as a duplicate, not 202).
    event = events[1]
  end
  wrk.headers["Stripe-Signature"] = event.signature
  return event.body
end

dofile("benches/load/common.lua")

local common_init = init
function init(args)
  common_init(args)
  wrk.headers["Authorization"] = nil
  local thread = tonumber(string.match(prefix, "^(%d+)_")) or 1
  local i = 0
  for line in io.lines(os.getenv("VIGIL_STRIPE_EVENTS")) do
    i = i + 1
    if i % 2 == thread % 2 then
      local signature, text = string.match(line, "^([^\t]+)\t(.*)$")
      table.insert(events, {signature = signature, body = text})
    end
  end
end
