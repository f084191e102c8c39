#!/usr/bin/python3
"""A uvloop program with one callback that blocks its loop, for tests/uv/test_uv_lints.c.

    uvloop_sleepy.py SLEEP_MS

Ten short timers (call_later, 10 ms apart), then one whose callback calls time.sleep for
SLEEP_MS ms (the loop is blocked: long-callback, blocked in clock_nanosleep), then ten short
timers again. Prints "slept" and exits 0.
"""
import sys
import time

import uvloop


async def main(loop, sleep_ms):
    for i in range(10):
        done = loop.create_future()
        loop.call_later(0.01, done.set_result, i)
        await done
    done = loop.create_future()

    def blocker():
        time.sleep(sleep_ms / 1000.0)
        done.set_result(None)

    loop.call_later(0.01, blocker)
    await done
    for i in range(10):
        done = loop.create_future()
        loop.call_later(0.01, done.set_result, i)
        await done


def run():
    sleep_ms = int(sys.argv[1])
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(main(loop, sleep_ms))
    finally:
        loop.close()
    print("slept", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run())
