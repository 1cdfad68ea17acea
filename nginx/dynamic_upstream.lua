-- dynamic_upstream.lua: the HTTP API of ngx_dynamic_upstream for stock nginx.
--
-- Tested with nginx 1.22.1 (Debian 12), libnginx-mod-http-lua 0.10.23,
-- libnginx-mod-http-ndk 0.3.2, lua-resty-core 0.1.25, LuaJIT 2.1-20230119.
--
-- Servers are declared in init_by_lua (see dynamic_upstream.conf); their
-- state (down, weight, max_fails, fail_timeout) lives in a lua_shared_dict,
-- so every worker sees a change at once and it survives `nginx -s reload`.
-- A value changed in the config file wins over a run-time change at the next
-- reload; values the file did not change keep their run-time setting.
--
-- The API (GET LOCATION?upstream=ZONE&...) answers like ngx_dynamic_upstream
-- 0.1.6: a parameter counts only when written with "=" (nginx's $arg_*), the
-- same text lines, 404 for an unknown upstream, 400 for an unknown server,
-- a non-numeric weight/max_fails/fail_timeout or down= with up=, 405 for
-- methods other than GET and HEAD. The verbose listing adds "active=N":
-- requests in flight to that server, counted in the balancer and uncounted
-- in the log phase. add= and remove= are not supported (501).

local balancer = require "ngx.balancer"
local base = require "resty.core.base"

local _M = { _VERSION = "0.1.0" }

local DICT_NAME = "dynamic_upstream"
local FIELDS = { "down", "weight", "max_fails", "fail_timeout" }

-- zone name -> { name = zone, servers = { {addr, host, port, cfg = {...}}, ... } }
local upstreams = {}
-- per-worker smooth weighted round-robin state: zone -> addr -> current weight
local rr = {}
-- per-worker: request -> the active counter its current try raised. Keyed by
-- the request itself, not kept in ngx.ctx, which an internal redirect
-- (error_page after proxy_intercept_errors, say) clears before the log phase.
local inflight = {}

local function request_key()
    local r = base.get_request()
    if r == nil then
        return nil
    end
    return tostring(r)
end

local function dict()
    local d = ngx.shared[DICT_NAME]
    if not d then
        error("dynamic_upstream: lua_shared_dict " .. DICT_NAME .. " is not declared")
    end
    return d
end

local function key(kind, zone, addr, field)
    if field then
        return kind .. "|" .. zone .. "|" .. addr .. "|" .. field
    end
    return kind .. "|" .. zone .. "|" .. addr
end

-- An IPv4 address as four numbers 0-255, or nil.
local function ipv4_parts(s)
    local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if not a then
        return nil
    end
    local out = {}
    for i, v in ipairs({ a, b, c, d }) do
        if #v > 3 or tonumber(v) > 255 then
            return nil
        end
        out[i] = tonumber(v)
    end
    return out
end

-- The 8 groups of an IPv6 address (with "::" and a trailing IPv4 part), or nil.
local function ipv6_groups(s)
    local head, tail = s, nil
    local at = s:find("::", 1, true)
    if at then
        head, tail = s:sub(1, at - 1), s:sub(at + 2)
        if tail:find("::", 1, true) then
            return nil
        end
    end
    local function groups(part, last)
        local out = {}
        if part == "" then
            return out
        end
        local fields = {}
        for f in (part .. ":"):gmatch("([^:]*):") do
            fields[#fields + 1] = f
        end
        for i, f in ipairs(fields) do
            local v4 = last and i == #fields and ipv4_parts(f)
            if v4 then
                out[#out + 1] = v4[1] * 256 + v4[2]
                out[#out + 1] = v4[3] * 256 + v4[4]
            elseif f:match("^%x%x?%x?%x?$") then
                out[#out + 1] = tonumber(f, 16)
            else
                return nil
            end
        end
        return out
    end
    local h = groups(head, tail == nil)
    local t = tail and groups(tail, true) or {}
    if not h or not t then
        return nil
    end
    local missing = 8 - #h - #t
    if (tail and missing < 1) or (not tail and missing ~= 0) then
        return nil
    end
    for _ = 1, missing do
        h[#h + 1] = 0
    end
    for _, g in ipairs(t) do
        h[#h + 1] = g
    end
    return h
end

-- An IPv6 address written the way nginx prints it (ngx_inet6_ntop): the
-- first longest run of two or more zero groups as "::", lower-case hex,
-- and the IPv4 forms ::a.b.c.d and ::ffff:a.b.c.d.
local function ipv6_text(g)
    local zero, max, run, start = nil, 1, 0, nil
    for i = 1, 8 do
        if g[i] == 0 then
            if run == 0 then
                start = i
            end
            run = run + 1
        else
            run = 0
        end
        if run > max then
            zero, max = start, run
        end
    end
    local n = 8
    if zero == 1 and (max == 6 or (max == 5 and g[6] == 0xffff)
        or (max == 7 and g[8] >= 256 and g[8] % 256 ~= 1)) then
        n = 6
    end
    local out, i = {}, 1
    while i <= n do
        if i == zero then
            out[#out + 1] = (i == 1) and "::" or ":"
            i = i + max
        else
            out[#out + 1] = string.format("%x", g[i])
            if i < 8 then
                out[#out + 1] = ":"
            end
            i = i + 1
        end
    end
    local text = table.concat(out)
    if n == 6 then
        local f = math.floor
        text = text .. string.format("%d.%d.%d.%d", f(g[7] / 256), g[7] % 256, f(g[8] / 256), g[8] % 256)
    end
    return text
end

-- Splits "IP:port" or "[IPv6]:port" into the host ngx.balancer takes (IPv6
-- in brackets: nginx parses a bare "::1" as host ":" and port ":1") and the
-- port, and returns the address the way the C module prints it, which the
-- API's server= must match: "[0:0::1]:8080" is "[::1]:8080".
local function split_addr(addr)
    local host, port = addr:match("^%[([%x:.]+)%]:(%d+)$")
    local text
    if host then
        local g = ipv6_groups(host)
        if not g then
            return nil
        end
        host = "[" .. ipv6_text(g) .. "]"
        text = host
    else
        host, port = addr:match("^([%d.]+):(%d+)$")
        local v4 = host and ipv4_parts(host)
        if not v4 then
            return nil
        end
        host = table.concat(v4, ".")
        text = host
    end
    if #port > 5 then
        return nil
    end
    port = tonumber(port)
    if port < 1 or port > 65535 then
        return nil
    end
    return host, port, text .. ":" .. port
end

local function as_number(v, default, what, addr)
    if v == nil then
        return default
    end
    if type(v) ~= "number" or v < 0 or v % 1 ~= 0 then
        error("dynamic_upstream: " .. addr .. ": " .. what .. " must be a whole number >= 0")
    end
    return v
end

-- Declares an upstream (call from init_by_lua). servers is a list of
-- "IP:port" or "[IPv6]:port" strings (listed, and matched by server=, the
-- way nginx prints them) or tables { "IP:port", weight = 1, max_fails = 1,
-- fail_timeout = 10, down = false } with nginx's defaults.
function _M.upstream(zone, servers)
    if type(zone) ~= "string" or zone == "" then
        error("dynamic_upstream: upstream needs a zone name")
    end
    local d = dict()
    local list = {}
    local seen = {}
    for _, s in ipairs(servers) do
        if type(s) == "string" then
            s = { s }
        end
        local written = s[1]
        local host, port, addr = split_addr(written or "")
        if not host then
            error("dynamic_upstream: zone " .. zone .. ": server " .. tostring(written) ..
                  " is not IP:port or [IPv6]:port (hostnames are not resolved here)")
        end
        if seen[addr] then
            error("dynamic_upstream: zone " .. zone .. ": server " .. written .. " is listed twice (as "
                  .. seen[addr] .. ")")
        end
        seen[addr] = written
        local cfg = {
            down = s.down and 1 or 0,
            weight = as_number(s.weight, 1, "weight", addr),
            max_fails = as_number(s.max_fails, 1, "max_fails", addr),
            fail_timeout = as_number(s.fail_timeout, 10, "fail_timeout", addr),
        }
        for _, f in ipairs(FIELDS) do
            local ck, sk = key("c", zone, addr, f), key("s", zone, addr, f)
            if d:get(ck) ~= cfg[f] or d:get(sk) == nil then
                d:set(sk, cfg[f])
            end
            d:set(ck, cfg[f])
        end
        list[#list + 1] = { addr = addr, host = host, port = port, cfg = cfg }
    end
    if #list == 0 then
        error("dynamic_upstream: zone " .. zone .. " has no servers")
    end
    upstreams[zone] = { name = zone, servers = list }
end

local function get(d, zone, srv, field)
    local v = d:get(key("s", zone, srv.addr, field))
    if v == nil then
        return srv.cfg[field]
    end
    return v
end

local function active(d, zone, addr)
    local n = d:get(key("a", zone, addr)) or 0
    if n < 0 then
        return 0
    end
    return n
end

local function excluded(d, zone, addr)
    return d:get(key("x", zone, addr)) ~= nil
end

-- nginx's passive health check, approximated: max_fails failures within
-- fail_timeout (counted from the first) exclude the server for fail_timeout.
local function note_failure(d, zone, srv)
    local max_fails = get(d, zone, srv, "max_fails")
    local fail_timeout = get(d, zone, srv, "fail_timeout")
    if max_fails == 0 or fail_timeout == 0 then
        return
    end
    local fk = key("f", zone, srv.addr)
    local n = d:incr(fk, 1, 0, fail_timeout)
    if n and n >= max_fails then
        d:set(key("x", zone, srv.addr), 1, fail_timeout)
        d:delete(fk)
        ngx.log(ngx.WARN, "dynamic_upstream: ", zone, " ", srv.addr, " failed ", n,
                " times, excluded for ", fail_timeout, "s")
    end
end

local function pick(d, up, tried)
    local state = rr[up.name]
    if not state then
        state = {}
        rr[up.name] = state
    end
    local best, total = nil, 0
    for _, srv in ipairs(up.servers) do
        local w = get(d, up.name, srv, "weight")
        if not tried[srv.addr] and w > 0 and get(d, up.name, srv, "down") == 0
            and not excluded(d, up.name, srv.addr) then
            local cw = (state[srv.addr] or 0) + w
            state[srv.addr] = cw
            total = total + w
            if not best or cw > state[best.addr] then
                best = srv
            end
        end
    end
    if best then
        state[best.addr] = state[best.addr] - total
    end
    return best
end

-- The balancer: call from balancer_by_lua_block in the upstream.
function _M.balance(zone)
    local up = upstreams[zone]
    if not up then
        ngx.log(ngx.ERR, "dynamic_upstream: unknown zone ", zone)
        return ngx.exit(500)
    end
    local d = dict()
    local ctx = ngx.ctx
    local rk = request_key()
    local prev = rk and inflight[rk]
    if prev then
        -- a retry (or a new upstream after an internal redirect): the
        -- previous try is over
        if ctx.du_srv and ctx.du_zone == zone and balancer.get_last_failure() == "failed" then
            note_failure(d, zone, ctx.du_srv)
        end
        d:incr(prev, -1, 0)
        inflight[rk] = nil
    end
    local tried = ctx.du_tried
    local first = tried == nil
    if first then
        tried = {}
        ctx.du_tried = tried
    end
    local srv = pick(d, up, tried)
    if not srv then
        ngx.log(ngx.ERR, "dynamic_upstream: no live upstreams in ", zone)
        -- ngx.exit(502) here reaches the client as 500; a peer that refuses
        -- at once makes nginx answer 502, as it does with no live upstreams.
        local ok, err = balancer.set_current_peer("127.0.0.1", 0)
        if not ok then
            ngx.log(ngx.ERR, "dynamic_upstream: set_current_peer: ", err)
            return ngx.exit(500)
        end
        return
    end
    if first and #up.servers > 1 then
        balancer.set_more_tries(#up.servers - 1)
    end
    tried[srv.addr] = true
    local ok, err = balancer.set_current_peer(srv.host, srv.port)
    if not ok then
        ngx.log(ngx.ERR, "dynamic_upstream: set_current_peer ", srv.addr, ": ", err)
        return ngx.exit(500)
    end
    ctx.du_srv = srv
    ctx.du_zone = zone
    if rk then
        local ak = key("a", zone, srv.addr)
        d:incr(ak, 1, 0)
        inflight[rk] = ak
    end
end

-- The log phase: call from log_by_lua_block (http level) so that every
-- request the balancer counted is uncounted, whatever its outcome.
function _M.log()
    local rk = request_key()
    local ak = rk and inflight[rk]
    if ak then
        dict():incr(ak, -1, 0)
        inflight[rk] = nil
    end
end

local function listing(d, up, verbose)
    local out = {}
    for _, srv in ipairs(up.servers) do
        local line = "server " .. srv.addr
        if verbose then
            line = line .. " weight=" .. get(d, up.name, srv, "weight")
                .. " max_fails=" .. get(d, up.name, srv, "max_fails")
                .. " fail_timeout=" .. get(d, up.name, srv, "fail_timeout")
                .. " active=" .. active(d, up.name, srv.addr)
        end
        if get(d, up.name, srv, "down") == 1 then
            line = line .. " down;\n"
        else
            line = line .. ";\n"
        end
        out[#out + 1] = line
    end
    return table.concat(out)
end

-- nginx's ngx_atoi: one or more digits, nothing else.
local function atoi(v)
    if not v:match("^%d+$") or #v > 9 then
        return nil
    end
    return tonumber(v)
end

-- The API: call from content_by_lua_block in a location restricted to
-- trusted addresses.
function _M.api()
    local method = ngx.req.get_method()
    if method ~= "GET" and method ~= "HEAD" then
        return ngx.exit(405)
    end
    ngx.header.content_type = "text/plain"
    if method == "HEAD" then
        ngx.status = 200
        return ngx.exit(200)
    end

    local var = ngx.var
    local verbose = var.arg_verbose ~= nil
    local set = {}
    for _, f in ipairs({ "weight", "max_fails", "fail_timeout" }) do
        local v = var["arg_" .. f]
        if v ~= nil then
            local n = atoi(v)
            if n == nil then
                ngx.log(ngx.ERR, "dynamic_upstream: ", f, " is not a number")
                return ngx.exit(400)
            end
            set[f] = n
            verbose = true
        end
    end
    local add, remove = var.arg_add ~= nil, var.arg_remove ~= nil
    if add and remove then
        ngx.log(ngx.ERR, "dynamic_upstream: add and remove at once are not allowed")
        return ngx.exit(400)
    end
    local up_, down_ = var.arg_up ~= nil, var.arg_down ~= nil
    if up_ and down_ then
        ngx.log(ngx.ERR, "dynamic_upstream: down and up at once are not allowed")
        return ngx.exit(400)
    end
    if up_ or down_ then
        verbose = true
    end

    local zone = var.arg_upstream
    local up = zone and upstreams[zone]
    if not up then
        ngx.log(ngx.ERR, "dynamic_upstream: upstream is not found: ", zone or "(none)")
        return ngx.exit(404)
    end
    if add or remove then
        ngx.log(ngx.ERR, "dynamic_upstream: add= and remove= are not supported")
        return ngx.exit(501)
    end

    local d = dict()
    if next(set) or up_ or down_ then
        local server = var.arg_server or ""
        local target
        for _, srv in ipairs(up.servers) do
            if srv.addr == server then
                target = srv
                break
            end
        end
        if not target then
            ngx.log(ngx.ERR, "dynamic_upstream: server ", server, " is not found in ", zone)
            return ngx.exit(400)
        end
        for f, n in pairs(set) do
            d:set(key("s", zone, target.addr, f), n)
        end
        if up_ then
            d:set(key("s", zone, target.addr, "down"), 0)
            -- unlike the C module, up= forgets earlier failures
            d:delete(key("f", zone, target.addr))
            d:delete(key("x", zone, target.addr))
            ngx.log(ngx.NOTICE, "dynamic_upstream: upped server ", target.addr, " in ", zone)
        elseif down_ then
            d:set(key("s", zone, target.addr, "down"), 1)
            ngx.log(ngx.NOTICE, "dynamic_upstream: downed server ", target.addr, " in ", zone)
        end
    end

    local body = listing(d, up, verbose)
    ngx.header.content_length = #body
    ngx.print(body)
end

return _M
