// Model: placeholder until its first file lands.
