-- POST /api/tasks with the JSON body in BENCH_POST_BODY: every request creates a task.
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

function init(args)
   wrk.method = "POST"
   wrk.path = "/api/tasks"
   wrk.body = assert(os.getenv("BENCH_POST_BODY"), "BENCH_POST_BODY is not set")
   wrk.headers["Authorization"] = common.authorization
   wrk.headers["Content-Type"] = "application/json"
end
