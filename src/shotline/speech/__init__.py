"""Words said and shown: speech recognition (faster-whisper), on-screen text (Tesseract), and
their mapping onto shots. Pure model code; the transcriber service drives it."""
