"""The Telegram face of segbot and its composition root: routers, middlewares, web server,
the `segbot` command line and the Bot API emulator."""
