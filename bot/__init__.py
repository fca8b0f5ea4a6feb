"""The Telegram face of segbot and its composition root: aiogram routers, middlewares,
the admin console, the Messenger adapter, the webhook, the web server, and the runtime that
builds and runs a process (`segbot run`)."""
