-- Signed WeChat text messages for wrk, each with a MsgId never used before.
--
-- wrk's LuaJIT has no sha1, so bench/wechat_wrk.py signs a pool of query strings
-- (timestamp, nonce, signature: plaintext mode signs only these, not the body) and
-- writes them one a line to the pool file; this script takes them round-robin.
-- The body is built here from a template so that every request carries its own
-- MsgId (run base + a per-thread counter) and one of `users` senders: the pool
-- can never run out, and no message is a retry of another.
--
--   wrk -s bench/wrk/wechat.lua URL -- POOL TEMPLATE USERS MSGID_BASE THREADS
--
-- TEMPLATE is the XML body with %s for the sender and %s for the MsgId.
-- done() prints one JSON line starting with "RESULT " for the Python side, with the
-- 200 responses each thread read ("by_thread").
--
-- WRK_HOSTS="127.0.0.1:8001,127.0.0.1:8002,..." (optional, from the environment: setup()
-- runs before init() sees the arguments) sends thread i to host i mod N, as a load
-- balancer in front of N replicas would; bench/scaling.py runs -tN against N replicas.
--
-- WRK_DELAY_MS (optional, from the environment) paces each connection: after each answer
-- it waits that long on average before the next request (bench/wechat_wrk.py --rate),
-- drawn from an exponential distribution so that the connections do not fire in step
-- (together they send about as a Poisson stream, as many independent senders do; the
-- same fixed wait made all of them send at once, a burst each period). wrk stays a
-- closed loop: a slow answer delays the next request of its connection, so the rate
-- reached falls short of the rate aimed at when latency grows (and is reported as such).

local pace_ms = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pace_ms then
  function delay()
    return -math.log(1 - math.random()) * pace_ms
  end
end

local threads = {}
local hosts = {}
for host, port in string.gmatch(os.getenv("WRK_HOSTS") or "", "([^,:]+):(%d+)") do
  table.insert(hosts, { host, port })
end

function setup(thread)
  thread:set("thread_index", #threads)
  if #hosts > 0 then
    local host = hosts[(#threads % #hosts) + 1]
    thread.addr = wrk.lookup(host[1], host[2])[1]
  end
  table.insert(threads, thread)
end

local pool, template, users, base, nthreads
-- globals, not locals: done() reads them from each thread with thread:get
sent, passive, later, other = 0, 0, 0, 0

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  pool = {}
  for line in io.lines(args[1]) do
    table.insert(pool, line)
  end
  template = read_all(args[2])
  users = tonumber(args[3])
  base = tonumber(args[4])
  nthreads = tonumber(args[5])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml"
end

function request()
  -- n is unique across threads: thread i sends i, i + T, i + 2T, ...
  local n = sent * nthreads + thread_index
  sent = sent + 1
  local query = pool[(n % #pool) + 1]
  local body = string.format(template, "wrk" .. (n % users), string.format("%.0f", base + n))
  return wrk.format(nil, wrk.path .. "?" .. query, nil, body)
end

function response(status, headers, body)
  if status ~= 200 then
    return -- counted by wrk as a status error
  end
  if body:find("<MsgType><![CDATA[text]]></MsgType>", 1, true)
      and body:find("<Content><![CDATA[", 1, true) then
    passive = passive + 1
  elseif body == "success" then
    later = later + 1 -- no passive reply in time: the answer goes through the API
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local totals = { passive = 0, later = 0, other = 0, sent = 0 }
  local by_thread = {}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do
      totals[key] = totals[key] + (thread:get(key) or 0)
    end
    local ok = (thread:get("passive") or 0) + (thread:get("later") or 0) + (thread:get("other") or 0)
    table.insert(by_thread, string.format("%d", ok))
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
      .. '"sent": %d, "passive": %d, "later": %d, "other": %d, "by_thread": [%s]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout,
    totals.sent, totals.passive, totals.later, totals.other, table.concat(by_thread, ", ")))
end
