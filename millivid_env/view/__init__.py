"""`millivid view`: a local web page for scrubbing through recorded episodes and rollouts beside them."""
