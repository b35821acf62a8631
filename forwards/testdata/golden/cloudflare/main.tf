# Cloudflare Email Routing rules written by catchall: one per alias of the
# plan (Cloudflare Terraform provider 5). See INSTALL.txt.
terraform {
  required_providers {
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.0"
    }
  }
}

variable "zone_ids" {
  type        = map(string)
  description = "Zone ID of each domain, by domain name: example.com, xn--bcher-kva.example"
}

resource "cloudflare_email_routing_rule" "hash_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: #hash@example.com"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "#hash@example.com" }]
  actions  = [{ type = "forward", value = ["|pipe@family.example"] }]
}

resource "cloudflare_email_routing_rule" "a_b_c_d_e_f_g_h_i_j_k_l_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: a=b/c{d}$e^f|g?h*i#j&k%l@example.com"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "a=b/c{d}$e^f|g?h*i#j&k%l@example.com" }]
  actions  = [{ type = "forward", value = ["me@new.example"] }]
}

resource "cloudflare_email_routing_rule" "family_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: family@example.com"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "family@example.com" }]
  actions  = [{ type = "forward", value = ["me@new.example"] }]
}

resource "cloudflare_email_routing_rule" "leaked_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: leaked@example.com"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "leaked@example.com" }]
  actions  = [{ type = "drop" }]
}

resource "cloudflare_email_routing_rule" "news_heise_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: news+heise@example.com"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "news+heise@example.com" }]
  actions  = [{ type = "forward", value = ["me@new.example"] }]
}

resource "cloudflare_email_routing_rule" "o_brien_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: o'brien@example.com"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "o'brien@example.com" }]
  actions  = [{ type = "forward", value = ["o'brien$home@family.example"] }]
}

resource "cloudflare_email_routing_rule" "price_x_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: price.$%%{x}@example.com"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "price.$%%{x}@example.com" }]
  actions  = [{ type = "drop" }]
}

resource "cloudflare_email_routing_rule" "tpl_x_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: tpl$${x}@example.com"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "tpl$${x}@example.com" }]
  actions  = [{ type = "forward", value = ["me@new.example"] }]
}

resource "cloudflare_email_routing_rule" "tilde_bang_x_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: ~tilde!bang`x@example.com"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "~tilde!bang`x@example.com" }]
  actions  = [{ type = "forward", value = ["me@new.example"] }]
}

resource "cloudflare_email_routing_catch_all" "catch_all_example_com" {
  zone_id  = var.zone_ids["example.com"]
  name     = "catchall: catch-all"
  enabled  = true
  matchers = [{ type = "all" }]
  actions  = [{ type = "forward", value = ["catchall@new.example"] }]
}

resource "cloudflare_email_routing_rule" "shop_xn_bcher_kva_example" {
  zone_id  = var.zone_ids["xn--bcher-kva.example"]
  name     = "catchall: shop@xn--bcher-kva.example"
  enabled  = true
  matchers = [{ type = "literal", field = "to", value = "shop@xn--bcher-kva.example" }]
  actions  = [{ type = "forward", value = ["me@new.example"] }]
}

resource "cloudflare_email_routing_catch_all" "catch_all_xn_bcher_kva_example" {
  zone_id  = var.zone_ids["xn--bcher-kva.example"]
  name     = "catchall: catch-all"
  enabled  = true
  matchers = [{ type = "all" }]
  actions  = [{ type = "forward", value = ["catchall@new.example"] }]
}
