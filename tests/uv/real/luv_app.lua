-- A Lua program on lua-luv (libuv 1.44) with known numbers, for tests/uv/test_uv_real.c:
--
--   lua5.1 luv_app.lua CLIENTS ROUNDS TIMERS WORKS STATS [wait]
--
-- - a TCP echo server on 127.0.0.1 (uv.new_tcp, bind, listen; each connection accepted in
--   the server's connection callback) and CLIENTS clients (uv.tcp_connect), each making ROUNDS
--   request/reply round trips (one uv.write per message, the next only after the reply);
-- - TIMERS one-shot timers, each closed in its callback;
-- - WORKS uv.queue_work jobs on libuv's thread pool (uv_queue_work);
-- - STATS asynchronous uv.fs_stat calls (one uv_fs_stat with a callback each).
-- With "wait", it prints "ready" and reads a line on stdin before it starts anything. The last
-- line sums up what it observed; the exit status is 0 only when every number is as asked.
local uv = require('luv')

local clients, rounds, timers, works, stats =
    tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])
if arg[6] == 'wait' then
    print('ready')
    io.stdout:flush()
    io.stdin:read('*l')
end

local echoed, fired, worked, statted = 0, 0, 0, 0

local server = uv.new_tcp()
assert(server:bind('127.0.0.1', 0))
local port = server:getsockname().port
assert(server:listen(128, function(err)
    assert(not err, err)
    local conn = uv.new_tcp()
    assert(server:accept(conn))
    conn:read_start(function(rerr, data)
        assert(not rerr, rerr)
        if data then
            conn:write(data)
        else
            conn:close()
        end
    end)
end))

local function message(i)
    return string.format('ping-%06d\n', i)
end

local function run_client(next_step)
    local sock = uv.new_tcp()
    local sent, pending = 0, ''
    sock:connect('127.0.0.1', port, function(err)
        assert(not err, err)
        sock:read_start(function(rerr, data)
            assert(not rerr and data, rerr)
            pending = pending .. data
            local want = message(sent)
            if #pending < #want then
                return
            end
            assert(pending == want, 'bad echo')
            pending = ''
            echoed = echoed + 1
            if sent + 1 < rounds then
                sent = sent + 1
                sock:write(message(sent))
            else
                sock:close(next_step)
            end
        end)
        sock:write(message(sent))
    end)
end

local function after_work()
    worked = worked + 1
end
local work = uv.new_work(function(n)
    return n * n
end, after_work)

local function phase_rest()
    server:close()
    for i = 1, timers do
        local t = uv.new_timer()
        t:start(i, 0, function()
            fired = fired + 1
            t:close()
        end)
    end
    for i = 1, works do
        work:queue(i)
    end
    for _ = 1, stats do
        uv.fs_stat(arg[0], function(err, st)
            if not err and st then
                statted = statted + 1
            end
        end)
    end
end

local function clients_from(i)
    if i > clients then
        phase_rest()
        return
    end
    run_client(function()
        clients_from(i + 1)
    end)
end
clients_from(1)

uv.run('default')
print(string.format('echoed %d timers %d works %d stats %d', echoed, fired, worked, statted))
uv.loop_close()
local ok = echoed == clients * rounds and fired == timers and worked == works and statted == stats
os.exit(ok and 0 or 1)
