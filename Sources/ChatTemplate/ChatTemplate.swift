// ChatTemplate: placeholder until its first file lands.
