// Training: placeholder until its first file lands.
