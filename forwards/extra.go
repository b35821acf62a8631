package forwards

// extraFormats lists the formats of hosted forwarding services and other
// MTAs (Exim, procmail, Cloudflare, ForwardEmail, ImprovMX, SimpleLogin,
// addy.io); see their files.
func extraFormats() []Format { return nil }

// extraImporters lists their importers.
func extraImporters() []Importer { return nil }
