// Tokenizer: placeholder until its first file lands.
