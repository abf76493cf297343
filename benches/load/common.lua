-- What every wrk load script shares: a unique id prefix per thread, lean requests, and a summary
-- line with the answers counted by class. A script sets `hook` and defines `body(prefix, n)`, which
-- may return header lines of that request as a second value; a script that signs each request
-- sets `bearer = false`. Then it loads this file. Environment: VIGIL_TENANT, VIGIL_INGEST_TOKEN.
local tenant = os.getenv("VIGIL_TENANT")
local token = os.getenv("VIGIL_INGEST_TOKEN")
local threads = {}
-- Per-thread globals (each wrk thread has its own Lua state; setup() gives each its prefix).
counter = 0
prefix = ""

function setup(thread)
  thread:set("prefix", tostring(#threads + 1) .. "_" .. tostring(math.random(1, 1000000000)))
  table.insert(threads, thread)
end

-- The request line and common headers are built once: per request only the body, its length and
-- its own headers change, so the load generator, which shares the machine's cores with the
-- server, spends little on each.
local head

function init(args)
  head = "POST /hooks/" .. tenant .. "/" .. hook .. " HTTP/1.1\r\n"
    .. "Host: " .. wrk.host .. "\r\n"
    .. (bearer == false and "" or "Authorization: Bearer " .. token .. "\r\n")
    .. "Content-Type: application/json\r\n"
end

function request()
  counter = counter + 1
  local b, headers = body(prefix, counter)
  return head .. (headers or "") .. "Content-Length: " .. #b .. "\r\n\r\n" .. b
end

-- No `response` callback: without one wrk skips parsing every answer's headers and body, and
-- its own counts tell 2xx answers from the rest.
function done(summary, latency, requests)
  -- Every id is unique, so each 2xx answer is an accepted (new) event.
  io.write(string.format("answered 2xx: %d, other: %d\n",
    summary.requests - summary.errors.status, summary.errors.status))
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, requests/s %.0f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1000000)))
end
