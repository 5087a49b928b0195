"""Loaded by a worker started with this directory first on PYTHONPATH: the
first changelog record a table recovery of consumer generation
``RASD_TEST_STALL_GENERATION`` or later would deliver never arrives, as in the
recovery hang seen after back-to-back rebalances (Faust's fetch loop waits on
it for good)."""
import asyncio
import logging
import os

from faust.transport.conductor import Conductor

STALL_GENERATION = int(os.environ["RASD_TEST_STALL_GENERATION"])
compile_message_handler = Conductor._compile_message_handler


def stalling_message_handler(self):
    handler = compile_message_handler(self)
    stalled = False

    async def on_message(message):
        nonlocal stalled
        if (not stalled and message.topic.endswith("-changelog") and self.app.in_recovery
                and self.app.consumer_generation_id >= STALL_GENERATION):
            stalled = True
            logging.getLogger(__name__).warning("test: the fetch loop now waits for good at %s", message.tp)
            await asyncio.Event().wait()
        return await handler(message)

    return on_message


Conductor._compile_message_handler = stalling_message_handler
