"""A minimal HTTP/1.1 receiver for load tests: answers every POST with 204, keeps connections
alive, counts requests, and verifies nothing (Vigil's signatures are verified by the tests).
Usage: python3 benches/load/receiver.py PORT  (prints the count on SIGTERM)."""
import asyncio
import os
import signal
import sys

count = 0


async def serve(reader, writer):
    global count
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            count += 1
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(f"receiver: {count} requests", flush=True)
    # Open keep-alive connections would each print a cancellation on a graceful close.
    os._exit(0)


asyncio.run(main(int(sys.argv[1])))
