-- GET /api/tasks/<id>, each request a random id of the benchmark account's.
-- Argument: a file of task ids, one a line.
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local ids

function init(args)
   ids = common.rows(args[1])
   math.randomseed(os.time() * 100 + thread_number)
end

function request()
   local id = ids[math.random(#ids)][1]
   return wrk.format("GET", "/api/tasks/" .. id, { ["Authorization"] = common.authorization })
end
