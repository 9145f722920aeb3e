//! The Lua scripts: each runs atomically inside Redis and reads the time
//! from Redis itself (`TIME`), so every stamp and deadline of a shared cache
//! comes from one clock, whichever process wrote it.
//!
//! `redis.replicate_commands()` lets a script write after reading `TIME` on
//! Redis 6.2 (on 7.x it is the default and the call is a no-op).

use redis::Script;

/// `now` in Unix milliseconds, from Redis's clock.
const NOW: &str = "
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function ms(x) return string.format('%.0f', x) end
";

/// Stores a record and returns `{now, previous record or nil}`.
///
/// KEYS[1] data key. ARGV: 1 key bytes, 2 value bytes, 3 idle ms,
/// 4 lifetime ms (0: none), 5 channel ('' : do not publish), 6 origin.
const INSERT: &str = "
local rec = ms(now) .. ':' .. #ARGV[1] .. ':' .. ARGV[1] .. ARGV[2]
local at = now + tonumber(ARGV[3])
local life = tonumber(ARGV[4])
if life > 0 and now + life < at then at = now + life end
local old = redis.call('SET', KEYS[1], rec, 'PXAT', ms(at), 'GET')
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6] .. 'k' .. ARGV[1]) end
return {now, old}
";

/// Reads a record (when a max lifetime is set, or for a lazy refresh):
/// returns nil, or `{status, record}` with status 1 live, 0 past its
/// lifetime (deleted when refreshing), 2 unreadable header. A live read with
/// a refresh sets the expiry to `min(now + idle, created + lifetime)`, but
/// with a slack only if that moves it later by more than the slack (a
/// touch is a change that Redis reports to every tracking client).
///
/// KEYS[1] data key. ARGV: 1 idle ms (0: peek, no refresh), 2 lifetime ms
/// (0: none), 3 slack ms (0: always refresh).
const READ: &str = "
local v = redis.call('GET', KEYS[1])
if not v then return false end
local created = tonumber(string.match(v, '^(%d+):'))
if created == nil then return {2, v} end
local idle = tonumber(ARGV[1])
local life = tonumber(ARGV[2])
local at = now + idle
if life > 0 then
  local life_end = created + life
  if now >= life_end then
    if idle > 0 then redis.call('DEL', KEYS[1]) end
    return {0, v}
  end
  if life_end < at then at = life_end end
end
if idle > 0 then
  local slack = tonumber(ARGV[3])
  local left = redis.call('PTTL', KEYS[1])
  if slack == 0 or left < 0 or at - (now + left) > slack then
    redis.call('PEXPIREAT', KEYS[1], ms(at))
  end
end
return {1, v}
";

/// Deletes a record and returns `{now, record}` (nil when absent); tells
/// the channel which key went.
///
/// KEYS[1] data key. ARGV: 1 channel ('' : do not publish), 2 origin.
const REMOVE: &str = "
local v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then
  local _, e, klen = string.find(v, '^%d+:(%d+):')
  if e then redis.call('PUBLISH', ARGV[1], ARGV[2] .. 'k' .. string.sub(v, e + 1, e + tonumber(klen))) end
end
return {now, v}
";

/// Deletes a batch of keys and returns `{now, record or false, ...}`.
const TAKE_BATCH: &str = "
local out = {now}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v then redis.call('DEL', k) end
  out[i + 1] = v
end
return out
";

/// Releases a load lock only if this caller still holds it.
///
/// KEYS[1] lock key. ARGV[1] the holder's token.
const UNLOCK: &str = "
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The compiled scripts (each knows its SHA1 and is sent with `EVALSHA`,
/// falling back to `EVAL` once after a restart flushed the script cache).
pub(crate) struct Scripts {
    pub(crate) insert: Script,
    pub(crate) read: Script,
    pub(crate) remove: Script,
    pub(crate) take_batch: Script,
    pub(crate) unlock: Script,
    /// The batch delete's source, sent with `EVAL` in a cluster pipeline
    /// (where a node that lacks the script cannot be told to load it).
    take_batch_source: String,
}

impl Scripts {
    pub(crate) fn new() -> Scripts {
        let timed = |body: &str| format!("{NOW}{body}");
        let take_batch_source = timed(TAKE_BATCH);
        Scripts {
            insert: Script::new(&timed(INSERT)),
            read: Script::new(&timed(READ)),
            remove: Script::new(&timed(REMOVE)),
            take_batch: Script::new(&take_batch_source),
            unlock: Script::new(UNLOCK),
            take_batch_source,
        }
    }

    pub(crate) fn take_batch_source(&self) -> &str {
        &self.take_batch_source
    }
}
