-- Shared by the route scripts of `flask bench http` (each loads it with dofile): the
-- bearer token from BENCH_TOKEN, id files, and the done() hook that prints the run's
-- figures as one JSON line, marked "BENCH-RESULT", for the command to read.
local common = {}

common.authorization = "Bearer " .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")

-- The lines of a file, each split on spaces into a list of its words.
function common.rows(path)
   local rows = {}
   for line in io.lines(path) do
      local words = {}
      for word in line:gmatch("%S+") do
         words[#words + 1] = word
      end
      rows[#rows + 1] = words
   end
   assert(#rows > 0, path .. " is empty")
   return rows
end

-- setup() runs in the main state once per thread, before that thread's init(): each
-- thread learns its number (1, 2, ...), and done() can read the threads' counters.
local threads = {}

function setup(thread)
   threads[#threads + 1] = thread
   thread:set("thread_number", #threads)
end

function done(summary, latency, requests)
   local reused = 0
   for _, thread in ipairs(threads) do
      reused = reused + (thread:get("reused") or 0)
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH-RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
         .. '"non_2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,'
         .. '"timeouts":%d,"reused":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), errors.status, errors.connect, errors.read, errors.write,
      errors.timeout, reused))
end

return common
