"""What every test suite shares: the agents' event stream, a fake clock, the database URL."""
