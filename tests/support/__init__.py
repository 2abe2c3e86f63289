"""What the tests, `scripts/stack` and `scripts/bench` share to run prtrace against real
services: the services themselves (stack), a real `prtrace-server` process (server), and
polling until something is true (waiting). Not packaged: it holds fixed development
credentials, which no installed prtrace may carry."""
