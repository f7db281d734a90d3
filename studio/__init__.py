"""What the studio's pages share: the session's workspace, analyst and run, and how errors are shown."""
