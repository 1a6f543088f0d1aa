// ModelFiles: placeholder until its first file lands.
