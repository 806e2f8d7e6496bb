"""driverpay command-line tools: the Part 1 calculator, the generator and the job runners."""
