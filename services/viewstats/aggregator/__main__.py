import asyncio

from viewstats.aggregator.standalone import main

asyncio.run(main())
