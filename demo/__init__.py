"""`segbot demo`: a rehearsal of the whole product against the Bot API emulator."""
