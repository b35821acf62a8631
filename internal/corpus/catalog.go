package corpus

import (
	"strings"
)

// service is one website or company that may have been given its own alias.
type service struct {
	alias   string // default local part of the alias given to it
	domain  string // registrable domain: the ground-truth Service
	tag     string // "disposable" or "business"
	cat     string // subject/body family: shop, social, media, ...
	lang    string // en, de, fr, ja, ru
	esp     string // sending infrastructure, a key of espMailers or "own"
	mailDom string // domain the mail comes from (may differ from domain)
	display string // From display name
}

// serviceTable lists the services, one per line:
// alias domain tag(d|b) category language esp mail-domain display-name (underscores for spaces).
const serviceTable = `
adobe adobe.com d saas en sfmc mail.adobe.com Adobe
linkedin linkedin.com d social en own linkedin.com LinkedIn
netflix netflix.com d media en own members.netflix.com Netflix
amazon amazon.de d shop de ses marketplace.amazon.de Amazon.de
ebay ebay.de d shop de own ebay.de eBay
facebook facebook.com d social en own facebookmail.com Facebook
instagram instagram.com d social en own mail.instagram.com Instagram
twitter twitter.com d social en own twitter.com Twitter
pinterest pinterest.com d social en sg inspire.pinterest.com Pinterest
reddit reddit.com d forum en ses redditmail.com Reddit
spotify spotify.com d media en sg spotify.com Spotify
dropbox dropbox.com d saas en own dropbox.com Dropbox
zalando zalando.de d shop de sfmc mail.zalando.de Zalando
otto otto.de d shop de own newsletter.otto.de OTTO
ikea ikea.com d shop de sfmc email.ikea.com IKEA
booking booking.com d travel en own booking.com Booking.com
airbnb airbnb.com d travel en sg airbnb.com Airbnb
db bahn.de d travel de own bahn.de Deutsche_Bahn
lufthansa lufthansa.com d travel de sfmc newsletter.lufthansa.com Lufthansa
ryanair ryanair.com d travel en sfmc ryanair.com Ryanair
easyjet easyjet.com d travel en sfmc easyjet.com easyJet
uber uber.com d travel en sg uber.com Uber
paypal paypal.de d finance de own paypal.de PayPal
steam steampowered.com d game en own steampowered.com Steam
ea ea.com d game en sfmc ea.com Electronic_Arts
blizzard blizzard.com d game en own battle.net Blizzard_Entertainment
epicgames epicgames.com d game en sg epicgames.com Epic_Games
nintendo nintendo.com d game en sfmc accounts.nintendo.com Nintendo
playstation playstation.com d game en sfmc email.playstation.com PlayStation
twitch twitch.tv d media en ses twitch.tv Twitch
youtube youtube.com d media en own youtube.com YouTube
medium medium.com d news en sg medium.com Medium
quora quora.com d forum en own quora.com Quora_Digest
stackoverflow stackoverflow.com d forum en sg stackoverflow.email Stack_Overflow
superuser superuser.com d forum en sg stackexchange.email Super_User
meetup meetup.com d social en sg meetup.com Meetup
eventbrite eventbrite.com d social en sg eventbrite.com Eventbrite
xing xing.com d social de own mail.xing.com XING
tumblr tumblr.com d social en own tumblr.com Tumblr
flickr flickr.com d media en own flickr.com Flickr
soundcloud soundcloud.com d media en sg soundcloud.com SoundCloud
deezer deezer.com d media fr sfmc deezer.com Deezer
dailymotion dailymotion.com d media fr own dailymotion.com Dailymotion
duolingo duolingo.com d edu en sg duolingo.com Duolingo
coursera coursera.org d edu en sg coursera.org Coursera
udemy udemy.com d edu en sg udemy.com Udemy
khanacademy khanacademy.org d edu en mc khanacademy.org Khan_Academy
etsy etsy.com d shop en own etsy.com Etsy
aliexpress aliexpress.com d shop en own aliexpress.com AliExpress
wish wish.com d shop en sg wish.com Wish
asos asos.com d shop en sfmc asos.com ASOS
hm hm.com d shop de sfmc email.hm.com H&M
decathlon decathlon.de d shop de own decathlon.de Decathlon
mediamarkt mediamarkt.de d shop de sfmc mediamarkt.de MediaMarkt
conrad conrad.de d shop de cr conrad.de Conrad_Electronic
thomann thomann.de d shop de own thomann.de Thomann
alternate alternate.de d shop de cr alternate.de ALTERNATE
notebooksbilliger notebooksbilliger.de d shop de cr notebooksbilliger.de notebooksbilliger.de
idealo idealo.de d shop de own idealo.de idealo
check24 check24.de d finance de own check24.de CHECK24
lieferando lieferando.de d food de sfmc lieferando.de Lieferando
hellofresh hellofresh.de d food de sfmc hellofresh.de HelloFresh
starbucks starbucks.com d food en sfmc starbucks.com Starbucks
tripadvisor tripadvisor.com d travel en own tripadvisor.com Tripadvisor
expedia expedia.com d travel en sfmc expedia.com Expedia
hotels hotels.com d travel en sfmc hotels.com Hotels.com
flixbus flixbus.de d travel de sfmc flixbus.de FlixBus
sixt sixt.de d travel de sfmc sixt.de Sixt
kleinanzeigen kleinanzeigen.de d shop de own mail.kleinanzeigen.de Kleinanzeigen
chefkoch chefkoch.de d food de cr chefkoch.de Chefkoch
spiegel spiegel.de d news de own newsletter.spiegel.de DER_SPIEGEL
heise heise.de d news de own newsletter.heise.de heise_online
zeit zeit.de d news de own newsletter.zeit.de ZEIT_ONLINE
golem golem.de d news de own golem.de Golem.de
nytimes nytimes.com d news en sfmc nytimes.com The_New_York_Times
guardian theguardian.com d news en sfmc theguardian.com The_Guardian
bbc bbc.co.uk d news en own bbc.co.uk BBC
techcrunch techcrunch.com d news en mc techcrunch.com TechCrunch
theverge theverge.com d news en mc theverge.com The_Verge
substack substack.com d news en mg substack.com Substack
wired wired.com d news en sfmc wired.com WIRED
economist economist.com d news en sfmc economist.com The_Economist
tinder gotinder.com d social en sg gotinder.com Tinder
parship parship.de d social de own parship.de Parship
change change.org d social en sg change.org Change.org
wikimedia wikimedia.org d social en own wikimedia.org Wikimedia_Foundation
mozilla mozilla.org d saas en sfmc mozilla.org Mozilla
evernote evernote.com d saas en sg evernote.com Evernote
trello trello.com d saas en sg trello.com Trello
canva canva.com d saas en sg canva.com Canva
grammarly grammarly.com d saas en sg grammarly.com Grammarly
wetransfer wetransfer.com d saas en mg wetransfer.com WeTransfer
doodle doodle.com d saas en sg doodle.com Doodle
bitly bitly.com d saas en sg bitly.com Bitly
kickstarter kickstarter.com d shop en sg kickstarter.com Kickstarter
groupon groupon.de d shop de sfmc groupon.de Groupon
vinted vinted.de d shop de own vinted.de Vinted
shein shein.com d shop en own shein.com SHEIN
temu temu.com d shop en own temu.com Temu
gog gog.com d game en sg gog.com GOG.COM
humble humblebundle.com d game en mc humblebundle.com Humble_Bundle
ubisoft ubisoft.com d game en sfmc ubisoft.com Ubisoft
strava strava.com d sport en sg strava.com Strava
fitbit fitbit.com d sport en sfmc fitbit.com Fitbit
komoot komoot.de d sport de sg komoot.de komoot
garmin garmin.com d sport en sfmc garmin.com Garmin
nvidia nvidia.com d saas en sfmc nvidia.com NVIDIA
samsung samsung.com d shop en sfmc samsung.com Samsung
apple apple.com d shop en own apple.com Apple
ms microsoft.com d saas en own microsoft.com Microsoft
skype skype.com d saas en own skype.com Skype
tiktok tiktok.com d social en own tiktok.com TikTok
discord discord.com d social en sg discord.com Discord
patreon patreon.com d media en sg patreon.com Patreon
audible audible.de d media de ses audible.de Audible
lidl lidl.de d shop de sfmc newsletter.lidl.de Lidl
aldi aldi-sued.de d shop de cr aldi-sued.de ALDI_SÜD
rewe rewe.de d shop de sfmc rewe.de REWE
payback payback.de d shop de sfmc payback.de PAYBACK
tchibo tchibo.de d shop de cr tchibo.de Tchibo
rakuten rakuten.co.jp d shop ja own rakuten.co.jp 楽天市場
amazonjp amazon.co.jp d shop ja ses amazon.co.jp Amazon.co.jp
mercari mercari.com d shop ja sg mercari.com メルカリ
pixiv pixiv.net d media ja own pixiv.net pixiv
line line.me d social ja own line.me LINE
yahoojp yahoo.co.jp d news ja own mail.yahoo.co.jp Yahoo!_JAPAN
amazonuk amazon.co.uk d shop en ses amazon.co.uk Amazon.co.uk
tesco tesco.com d shop en sfmc tesco.com Tesco
fnac fnac.com d shop fr sfmc fnac.com Fnac
leboncoin leboncoin.fr d shop fr own leboncoin.fr leboncoin
sncf sncf-connect.com d travel fr sfmc sncf-connect.com SNCF_Connect
yandex yandex.ru d saas ru own yandex.ru Яндекс
ozon ozon.ru d shop ru own ozon.ru OZON
github github.com b dev en own github.com GitHub
gitlab gitlab.com b dev en mg gitlab.com GitLab
aws amazon.com b dev en ses aws.amazon.com Amazon_Web_Services
stripe stripe.com b finance en own stripe.com Stripe
hetzner hetzner.com b dev de own hetzner.com Hetzner_Online
digitalocean digitalocean.com b dev en sg digitalocean.com DigitalOcean
cloudflare cloudflare.com b dev en sg notify.cloudflare.com Cloudflare
namecheap namecheap.com b dev en own namecheap.com Namecheap
godaddy godaddy.com b dev en own godaddy.com GoDaddy
ionos ionos.de b dev de own ionos.de IONOS
strato strato.de b dev de own strato.de STRATO
slack slack.com b saas en sg slack.com Slack
atlassian atlassian.com b saas en ses am.atlassian.com Atlassian
google google.com b saas en own google.com Google_Workspace
docusign docusign.net b saas en own docusign.net DocuSign
zoom zoom.us b saas en sg zoom.us Zoom
datev datev.de b finance de own datev.de DATEV
lexoffice lexoffice.de b finance de own lexoffice.de lexoffice
sevdesk sevdesk.de b finance de sg sevdesk.de sevDesk
sparkasse sparkasse.de b finance de own sparkasse.de Sparkasse
n26 n26.com b finance de sfmc n26.com N26
ing ing.de b finance de own ing.de ING
elster elster.de b finance de own elster.de ELSTER
upwork upwork.com b saas en sg upwork.com Upwork
fiverr fiverr.com b saas en sg fiverr.com Fiverr
jetbrains jetbrains.com b dev en sg jetbrains.com JetBrains
sentry sentry.io b dev en mg sentry.io Sentry
netlify netlify.com b dev en mg netlify.com Netlify
vercel vercel.com b dev en sg vercel.com Vercel
heroku heroku.com b dev en sfmc heroku.com Heroku
letsencrypt letsencrypt.org b dev en mc letsencrypt.org Let's_Encrypt
telekom telekom.de b dev de own telekom.de Telekom
vodafone vodafone.de b dev de own vodafone.de Vodafone
1und1 1und1.de b dev de own 1und1.de 1&1
dhl dhl.de b shop de own dhl.de DHL_Paket
ups ups.com b shop en own ups.com UPS
`

// services is serviceTable parsed, in table order.
var services = parseServices(serviceTable)

func parseServices(table string) []service {
	var out []service
	for line := range strings.SplitSeq(strings.TrimSpace(table), "\n") {
		f := strings.Fields(line)
		if len(f) != 8 {
			panic("corpus: bad service line: " + line)
		}
		tag := "disposable"
		if f[2] == "b" {
			tag = "business"
		}
		out = append(out, service{
			alias: f[0], domain: f[1], tag: tag, cat: f[3], lang: f[4],
			esp: f[5], mailDom: f[6], display: strings.ReplaceAll(f[7], "_", " "),
		})
	}
	return out
}

// newsAliases are services whose alias is a subaddress, "news+<alias>@".
var newsAliases = []string{"heise", "spiegel", "zeit", "nytimes", "guardian", "bbc", "techcrunch", "theverge", "golem", "wired"}

// Personal aliases. The user is John Smith, his wife is Anna.
var (
	personalCore   = []string{"john", "john.smith", "anna", "family"}
	personalExtras = []string{"jsmith", "j.smith", "smith", "home", "kids", "emma", "paul", "mum",
		"wedding2016", "friends", "private", "johnny", "js", "smith-family", "holiday", "school", "grandma", "anna.smith"}
	roleCore   = []string{"invoices", "billing", "support", "sales", "jobs", "press", "info", "postmaster"}
	roleExtras = []string{"office", "accounting", "orders", "contact", "hr", "legal",
		"webmaster", "abuse", "careers", "partners", "team", "admin"}
)

// A name has a display form and an ASCII form for local parts.
type name struct{ disp, ascii string }

func names(list string) []name {
	var out []name
	for f := range strings.FieldsSeq(list) {
		d, a, ok := strings.Cut(f, "=")
		if !ok {
			a = translit(d)
		}
		out = append(out, name{strings.ReplaceAll(d, "_", " "), strings.ToLower(a)})
	}
	return out
}

// translit makes a display name usable in a local part.
func translit(s string) string {
	r := strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "Ä", "Ae", "Ö", "Oe", "Ü", "Ue",
		"é", "e", "è", "e", "ê", "e", "ë", "e", "É", "E", "ô", "o", "î", "i", "ç", "c", "à", "a", "'", "", "_", "")
	return r.Replace(s)
}

// First and last names per locale.
var (
	firstNames = map[string][]name{
		"de": names("Anna Lena Julia Laura Sarah Katharina Lisa Marie Sophie Hannah Lukas Jonas Felix Maximilian Paul Leon Tim Jan Niklas Tobias Jürgen Jörg Björn Sören Günter Ute Birgit Sabine Stefan Thomas Michael Andreas Markus Frank Käthe"),
		"en": names("James Mary Robert Patricia Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph Jessica Thomas Sarah Chris Karen Daniel Emily Matthew Olivia Ethan Chloe Ryan Megan Kevin Rachel"),
		"fr": names("Camille Léa Chloé Manon Inès Louis Hugo Théo Lucas Émile Jérôme François Hélène Céline"),
		"ru": names("Иван=ivan Дмитрий=dmitry Сергей=sergey Алексей=alexey Ольга=olga Наталья=natalya Елена=elena Михаил=mikhail Татьяна=tatyana"),
		"ja": names("優希=yuki 陽翔=haruto 蒼=aoi 結衣=yui 健二=kenji さくら=sakura 翔太=shota 美咲=misaki"),
	}
	lastNames = map[string][]name{
		"de": names("Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hartmann Lange Werner Krause Lehmann Köhler Weiß Jäger"),
		"en": names("Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Wilson Anderson Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker Hall Allen Young King Wright O'Brien"),
		"fr": names("Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Lefèvre Garnier Rousseau Girard Chevalier"),
		"ru": names("Иванов=ivanov Петров=petrov Смирнов=smirnov Кузнецов=kuznetsov Попов=popov Соколов=sokolov Волков=volkov Новиков=novikov"),
		"ja": names("田中=tanaka 鈴木=suzuki 高橋=takahashi 渡辺=watanabe 伊藤=ito 山本=yamamoto 佐藤=sato 中村=nakamura"),
	}
)

// freemail lists the freemail domains people of a locale use, with the mailer that sends for them.
var freemail = map[string][]string{
	"de": {"web.de", "gmx.de", "gmx.net", "t-online.de", "googlemail.com", "gmail.com", "posteo.de", "mailbox.org", "outlook.de", "yahoo.de"},
	"en": {"gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me", "me.com"},
	"fr": {"orange.fr", "gmail.com", "free.fr", "hotmail.fr", "laposte.net"},
	"ru": {"mail.ru", "yandex.ru", "gmail.com", "rambler.ru"},
	"ja": {"gmail.com", "yahoo.co.jp", "icloud.com", "docomo.ne.jp"},
}

// freemailMailer maps a freemail domain to a mailer key.
var freemailMailer = map[string]string{
	"web.de": "webde", "gmx.de": "gmx", "gmx.net": "gmx", "t-online.de": "tonline", "googlemail.com": "google",
	"gmail.com": "google", "posteo.de": "posteo", "mailbox.org": "mailboxorg", "outlook.de": "outlook",
	"yahoo.de": "yahoo", "yahoo.com": "yahoo", "outlook.com": "outlook", "hotmail.com": "outlook",
	"icloud.com": "icloud", "aol.com": "yahoo", "proton.me": "proton", "me.com": "icloud", "orange.fr": "orange",
	"free.fr": "free", "hotmail.fr": "outlook", "laposte.net": "laposte", "mail.ru": "mailru", "yandex.ru": "yandex",
	"rambler.ru": "rambler", "yahoo.co.jp": "yahoojp", "docomo.ne.jp": "docomo",
}

// Company name parts for customers, suppliers and generated shops.
var (
	companyWords = strings.Fields("nordlicht bergblick sonnenhof blaufeld eichenwald silverline bluepeak redwood northwind " +
		"brightpath ironbridge greenleaf kranich falkenstein seeblick lindenhof alpenrose rheinwerk elbtal moosgruen " +
		"sternwarte polaris meridian horizon cobalt saffron juniper maple harbor summit vertex quantum nimbus " +
		"kraemer bergmann hansen petersen lorenz vogel brandt hauser kaiser fuchs")
	companyKinds = strings.Fields("logistik consulting software media design druck bau solutions systems labs partners " +
		"trading technik werkstatt studio verlag immobilien")
	companyTLDs  = strings.Fields("de de de com com eu io at ch fr co.uk nl")
	shopPatterns = []string{"%s-shop.de", "%s.shop", "%sstore.com", "%s.de", "%s-versand.de", "shop-%s.com"}
	mediaDomains = strings.Fields("spiegel.de zeit.de faz.net sueddeutsche.de heise.de theguardian.com bbc.co.uk nytimes.com lemonde.fr t3n.de")
	spamTLDs     = strings.Fields("ru xyz top info biz click loan cn cc online site")
	spamWords    = strings.Fields("promo mega best win cash deal offer secure verify alert bonus lucky global prime rx meds crypto")
	cities       = strings.Fields("Berlin Hamburg München Köln Paris London Lisbon Madrid Rome Vienna Zürich Prague Tokyo Oslo Barcelona Amsterdam")
	months       = strings.Fields("January February March April May June July August September October November December")
	positions    = []string{"Software Engineer", "Projektmanager", "Office Manager", "Werkstudent", "Marketing Manager", "Data Analyst", "Praktikant (m/w/d)", "Sales Representative"}
	products     = []string{"LED-Panels", "office chairs", "USB-C cables", "Visitenkarten", "server racks", "Messestand", "Flyer", "licences"}
	repos        = []string{"catchall/catchall", "jsmith/dotfiles", "jsmith/blog", "acme/api", "golang/go", "jsmith/homelab"}
)

// Topics for news subjects and list threads.
var topics = map[string][]string{
	"en": {"markets rally as inflation cools", "a new climate report", "the election results", "AI regulation",
		"the housing market", "a record heat wave", "the space launch", "the budget talks", "rail strikes", "the World Cup"},
	"de": {"Koalition streitet über den Haushalt", "Bahnstreik", "Energiepreise", "die Landtagswahl", "Hitzewelle",
		"Mietpreisbremse", "Fachkräftemangel", "Digitalisierung der Schulen"},
	"ja": {"円相場", "台風", "新しい法案", "桜の開花"},
}

var goTopics = []string{"How to handle errors in goroutines?", "generics and type inference question",
	"sync.Pool usage in a hot path", "Go 1.%d is released", "cgo performance surprises", "embedding interfaces vs structs",
	"context cancellation best practice", "modules: replace directive ignored", "why is my binary so large?",
	"range over func iterators", "net/http timeouts explained", "proposal: add a Set type"}

// Subjects by family and language; {x} placeholders are filled in by expand.
var subjects = map[string][]string{
	"shop/en": {"Your order #{n} has shipped", "Order confirmation #{n}", "{pct}% off everything this weekend only",
		"Items in your cart are selling out", "Your {svc} receipt", "Rate your recent purchase", "New arrivals you might like",
		"Your package is on its way", "🎉 Last chance: free shipping ends tonight"},
	"shop/de": {"Ihre Bestellung {n} wurde versandt", "Bestellbestätigung Nr. {n}", "Nur heute: {pct}% Rabatt auf alles",
		"Ihr Warenkorb wartet auf Sie", "Ihre Rechnung von {svc}", "Wie gefällt Ihnen Ihr Einkauf?",
		"Neu eingetroffen: Die Highlights der Woche", "Ihr Paket ist unterwegs 📦"},
	"shop/fr": {"Votre commande n° {n} a été expédiée", "Confirmation de commande {n}", "-{pct}% sur tout le site ce week-end"},
	"shop/ja": {"ご注文の確認 (注文番号 {n})", "商品発送のお知らせ", "【{svc}】ポイント{k}倍キャンペーン"},
	"shop/ru": {"Ваш заказ №{n} отправлен", "Скидки до {pct}% только сегодня"},
	"social/en": {"{name} wants to connect with you", "You have {k} new notifications", "{name} commented on your post",
		"{name} mentioned you", "People you may know", "Your weekly summary", "{name} sent you a message"},
	"social/de": {"{name} möchte sich mit Ihnen vernetzen", "Sie haben {k} neue Benachrichtigungen", "{name} hat Ihr Profil besucht"},
	"social/ja": {"{name}さんから新しいメッセージ", "お知らせが{k}件あります"},
	"media/en": {"New on {svc}: picks for you", "Your monthly {svc} receipt", "Continue watching", "Your {year} wrapped is here",
		"{name} just went live", "New episodes this week"},
	"media/de": {"Neu bei {svc}: Unsere Empfehlungen", "Ihre monatliche Zahlung an {svc}"},
	"media/fr": {"Nouveautés sur {svc}", "Votre reçu {svc}"},
	"media/ja": {"{svc}からのおすすめ作品", "新着作品のお知らせ"},
	"travel/en": {"Your booking confirmation {code}", "Check in now for your flight to {city}", "Your trip to {city} is coming up",
		"Receipt for your ride", "Deals to {city} from €{k}9"},
	"travel/de": {"Ihre Buchungsbestätigung {code}", "Ihre Reiseverbindung nach {city}", "Jetzt einchecken: Ihr Flug nach {city}",
		"Ihre Fahrkarte {code}"},
	"travel/fr": {"Confirmation de votre voyage {code}", "Votre e-billet pour {city}"},
	"finance/en": {"Your statement is ready", "Security alert: new sign-in", "You've received a payment",
		"Receipt for your payment to {name}", "Action required: confirm your account"},
	"finance/de": {"Ihr Kontoauszug ist verfügbar", "Sicherheitshinweis: Neue Anmeldung", "Sie haben Geld erhalten",
		"Beleg für Ihre Zahlung an {name}", "Wichtige Information zu Ihrem Konto"},
	"game/en": {"A game on your wishlist is on sale", "Weekend deal: save {pct}%", "Your {svc} account: new login",
		"Thank you for your purchase", "Free games this week"},
	"news/en": {"Morning briefing: {topic}", "The week in review", "Today's headlines: {topic}", "Your daily digest",
		"Newsletter {date}", "Breaking: {topic}"},
	"news/de": {"Die Lage am {date}", "Der Morgen: {topic}", "Newsletter vom {date}", "Wochenrückblick: {topic}", "Eilmeldung: {topic}"},
	"news/ja": {"【{svc}】今日のニュース: {topic}", "週間ランキング"},
	"saas/en": {"Welcome to {svc}!", "Please confirm your email address", "Reset your password", "Your trial ends in {k} days",
		"Your {svc} invoice for {month}", "What's new in {svc}", "We're updating our privacy policy"},
	"saas/de": {"Willkommen bei {svc}!", "Bitte bestätigen Sie Ihre E-Mail-Adresse", "Passwort zurücksetzen", "Neu bei {svc}"},
	"saas/ru": {"Добро пожаловать в {svc}", "Подтвердите адрес электронной почты"},
	"dev/en": {"[{repo}] Issue #{n}: {gotopic}", "[{repo}] Pull request #{n} merged", "Your server {host} is using {pct}% disk",
		"Payment received - thank you", "Domain renewal notice for {userdomain}", "Your SSL certificate expires in {k} days",
		"Build failed: {repo}#{n}", "[{svc}] Security advisory"},
	"dev/de":   {"Rechnung {code} für Ihren Server", "Ihre Domain {userdomain} wird verlängert", "Wartungsarbeiten am {date}"},
	"edu/en":   {"Your course starts tomorrow", "Keep your streak alive!", "New course recommendations", "Certificate of completion"},
	"sport/en": {"Your weekly activity summary", "{name} gave you kudos", "New personal record!", "Your monthly report"},
	"sport/de": {"Deine Wochenübersicht", "Neue Bestzeit!", "Tourenvorschläge für das Wochenende"},
	"food/de":  {"Dein Rezept der Woche", "{pct}% Rabatt auf deine nächste Box", "Deine Bestellung ist unterwegs"},
	"food/en":  {"Your order is on the way", "This week's menu", "A free drink on your birthday"},
	"forum/en": {"New answer to: {gotopic}", "{name} replied to your question", "Your question got {k} upvotes",
		"Top questions this week", "Digest: {gotopic}"},
	"generic/en": {"Welcome to {svc}!", "Please confirm your email address", "Your account summary", "Important: changes to our terms"},
	"generic/de": {"Willkommen bei {svc}!", "Bitte bestätigen Sie Ihre Anmeldung", "Änderungen unserer AGB"},
	"generic/fr": {"Bienvenue chez {svc} !", "Confirmez votre adresse e-mail"},
	"generic/ja": {"【{svc}】会員登録完了のお知らせ", "パスワード再設定のご案内"},
	"generic/ru": {"Добро пожаловать!", "Важная информация о вашем аккаунте"},
	// Welcome and confirm-your-address subjects: the first message every
	// service sends to its alias, at the alias's creation.
	"welcome/en": {"Welcome to {svc}!", "Please confirm your email address"},
	"welcome/de": {"Willkommen bei {svc}!", "Bitte bestätigen Sie Ihre E-Mail-Adresse", "Bitte bestätigen Sie Ihre Anmeldung"},
	"welcome/fr": {"Bienvenue chez {svc} !", "Confirmez votre adresse e-mail"},
	"welcome/ja": {"【{svc}】会員登録完了のお知らせ"},
	"welcome/ru": {"Добро пожаловать в {svc}", "Подтвердите адрес электронной почты"},

	"personal/en": {"Dinner on Saturday?", "Photos from the weekend", "Happy birthday!", "Quick question", "Holiday plans",
		"Are you free next week?", "The house", "Recipe you asked for", "Flight details", "Christmas", "Long time no see",
		"Moving day", "Book recommendation", "Kids' school trip", "Catching up"},
	"personal/de": {"Abendessen am Samstag?", "Fotos vom Wochenende", "Alles Gute zum Geburtstag!", "Kurze Frage", "Urlaubspläne",
		"Hast du nächste Woche Zeit?", "Weihnachten bei Oma", "Umzug", "Rezept", "Grüße aus München", "Treffen am Sonntag"},
	"personal/fr": {"Dîner samedi ?", "Photos du week-end", "Joyeux anniversaire !", "Petite question"},
	"personal/ru": {"Привет!", "Фотографии с выходных", "С днём рождения!", "Встреча в субботу"},
	"personal/ja": {"週末の写真", "お誕生日おめでとう！", "来週の予定について", "お久しぶりです"},

	"invoice/en": {"Invoice {code}", "Invoice #{n} from {company}", "Your invoice for {month}"},
	"invoice/de": {"Rechnung Nr. {n}", "Ihre Rechnung {month} {year}", "Rechnung {code} – {company}"},
	"invoice/fr": {"Facture n° {n}", "Votre facture {company}"},
	"support/en": {"Problem with order {n}", "Question about your product", "Cannot log in", "Refund request", "Help needed"},
	"support/de": {"Problem mit Bestellung {n}", "Frage zu Ihrem Produkt", "Reklamation", "Login funktioniert nicht"},
	"sales/en":   {"Request for quote", "Pricing inquiry: {product}", "Partnership opportunity", "Bulk order inquiry"},
	"sales/de":   {"Anfrage: Angebot für {k}0 {product}", "Preisanfrage", "Kooperationsanfrage"},
	"jobs/en":    {"Application: {position}", "Job application - {position}", "Open positions?"},
	"jobs/de":    {"Bewerbung als {position}", "Initiativbewerbung", "Bewerbung: {position}"},
	"press/en":   {"Press inquiry: {topic}", "Interview request", "Request for comment"},
	"press/de":   {"Presseanfrage: {topic}", "Interviewanfrage", "Bitte um Stellungnahme"},
	// Messages the user writes to a person at a business service.
	"ticket/en": {"Question about invoice {code}", "Account locked after password reset", "Cannot verify my domain {userdomain}",
		"Refund for order {n}", "API rate limit question", "Please close my account", "Server {host} unreachable since this morning",
		"Change of billing address"},
	"ticket/de": {"Frage zur Rechnung {code}", "Kündigung Vertrag {code}", "Server {host} nicht erreichbar",
		"Änderung der Rechnungsadresse", "Zugang gesperrt", "Rückfrage zu Ihrem Angebot"},
	"biz/en": {"Meeting next week", "Contract draft", "Follow-up on our call", "Documents for signature", "Quarterly figures",
		"Order {n}", "Project kickoff", "Updated proposal"},
	"biz/de": {"Termin nächste Woche", "Vertragsentwurf", "Rückfrage zu unserem Telefonat", "Unterlagen zur Unterschrift",
		"Quartalszahlen", "Auftrag {n}", "Projektstart", "Angebot überarbeitet"},
	"webmaster/en": {"Broken links on {userdomain}", "SEO services for {userdomain}", "Abuse report for {ip}",
		"Guest post on {userdomain}?", "Your website {userdomain} is down"},

	"spam/en": {"You have won a $1,000 gift card!", "Your account will be suspended", "Invoice overdue - action required",
		"Cheap meds online - {pct}% off", "Bitcoin opportunity: earn {k}x in a week", "Hot singles in your area",
		"Urgent business proposal", "Your package could not be delivered", "Password expiry notice for {rcpt}",
		"Re: Payment {n}", "Congratulations {rcpt}!", "You have ({k}) undelivered messages", "Final notice"},
	"spam/de": {"Ihr Konto wurde gesperrt", "Letzte Mahnung: Rechnung {n}", "Sie haben gewonnen!", "Ihre Sendung konnte nicht zugestellt werden"},
	"spam/ru": {"Ваш выигрыш ждёт вас", "Заработок от {k} 000 рублей в день"},
}

// Words for generated text.
var words = map[string][]string{
	"en": strings.Fields(`time people way year work week day thing project plan idea weekend meeting dinner trip photos kids
house garden car train flight hotel city beach mountain party birthday present school office team call email message
question answer problem update news book movie music game friend family mother father sister brother morning evening
think know want need see come go make take find give tell ask try leave feel seem look bring send check share hope
remember love like book visit meet finish start good new great little long old big small nice late early busy happy
quick easy hard sure free ready the a and to of in for on with at from about but so just really also maybe probably
still already again soon next last this that some all we you I it they our your my there here when if because while
after before would could should will can might lovely weather tomorrow yesterday tonight everyone anyway honestly
together coffee lunch kitchen window bike walk run holiday summer winter spring autumn picture document list note`),
	"de": strings.Fields(`Zeit Leute Jahr Arbeit Woche Tag Sache Projekt Plan Idee Wochenende Treffen Abendessen Reise Fotos
Kinder Haus Garten Auto Zug Flug Hotel Stadt Strand Berg Feier Geburtstag Geschenk Schule Büro Anruf Nachricht Frage
Antwort Problem Neuigkeiten Buch Film Musik Freund Familie Mutter Vater Schwester Bruder Morgen Abend denken wissen
wollen brauchen sehen kommen gehen machen nehmen finden geben sagen fragen versuchen fühlen schauen bringen schicken
prüfen hoffen erinnern lieben besuchen treffen fertig anfangen gut neu toll klein lang alt groß schön spät früh
beschäftigt glücklich schnell einfach schwer sicher frei bereit der die das und zu von in für auf mit bei aus über
aber also nur wirklich auch vielleicht wahrscheinlich noch schon wieder bald nächste letzte diese alle wir ihr es sie
unser euer mein dort hier wenn weil während nach vor würde könnte sollte wird kann Wetter morgen gestern heute Abend
zusammen Kaffee Mittagessen Küche Fenster Fahrrad Spaziergang Urlaub Sommer Winter Frühling Herbst Bild Dokument Liste`),
	"fr": strings.Fields(`temps gens année travail semaine jour chose projet idée week-end réunion dîner voyage photos enfants
maison jardin voiture train vol hôtel ville plage montagne fête anniversaire cadeau école bureau appel message question
réponse problème nouvelles livre film musique ami famille mère père sœur frère matin soir penser savoir vouloir voir
venir aller faire prendre trouver donner dire demander bon nouveau grand petit beau tard tôt le la les et à de en pour
sur avec chez mais donc juste aussi peut-être encore déjà bientôt prochain dernier nous vous il elle notre votre`),
	"ru": strings.Fields(`время люди год работа неделя день проект план идея выходные встреча ужин поездка фотографии дети
дом сад машина поезд самолёт гостиница город море горы праздник подарок школа офис звонок письмо вопрос ответ
новости книга фильм музыка друг семья мама папа сестра брат утро вечер думать знать хотеть видеть прийти сделать
взять найти дать сказать спросить хороший новый большой маленький и в на с по за но так уже ещё скоро мы вы они наш`),
}

var jaPhrases = []string{"お世話になっております。", "先日はありがとうございました。", "週末は天気が良さそうですね。",
	"来週の予定を確認させてください。", "写真を送ります。", "また近いうちに会いましょう。", "よろしくお願いいたします。",
	"ご注文いただいた商品を発送しました。", "詳細は以下のリンクからご確認ください。", "今後ともよろしくお願いいたします。",
	"新しい機能が追加されました。", "ポイントの有効期限が近づいています。", "東京は桜が満開です。", "少し遅れるかもしれません。"}

var greetings = map[string][]string{
	"en": {"Hi %s,", "Hey %s,", "Hello %s,", "Dear %s,", "%s,"},
	"de": {"Hallo %s,", "Hi %s,", "Lieber %s,", "Moin %s,"},
	"fr": {"Salut %s,", "Bonjour %s,", "Cher %s,"},
	"ru": {"Привет, %s!", "Здравствуй, %s!"},
	"ja": {"%sさん", "%s様"},
}

var closings = map[string][]string{
	"en": {"Cheers", "Best", "Love", "Talk soon", "Thanks", "Best regards", "xx"},
	"de": {"Viele Grüße", "Liebe Grüße", "LG", "Bis bald", "Danke dir", "Beste Grüße"},
	"fr": {"Bises", "À bientôt", "Cordialement", "Amitiés"},
	"ru": {"Обнимаю", "До встречи", "С уважением"},
	"ja": {"よろしくお願いします。", "では、また。"},
}

// Mail client identification headers, by era.
var (
	thunderbirdByYear = map[int]string{2012: "17.0.5", 2013: "24.2.0", 2014: "31.3.0", 2015: "38.5.0", 2016: "45.6.0",
		2017: "52.5.0", 2018: "60.3.0", 2019: "68.3.0", 2020: "78.5.0", 2021: "91.4.0", 2022: "102.6.0", 2023: "115.5.0",
		2024: "128.3.0", 2025: "140.2.0"}
	clientHeaders = []string{
		"User-Agent: K-9 Mail for Android",
		"X-Mailer: Apple Mail (2.3445.104.11)",
		"X-Mailer: iPhone Mail (16A366)",
		"X-Mailer: Microsoft Outlook 16.0",
		"User-Agent: Roundcube Webmail/1.4.11",
		"User-Agent: Mutt/1.10.1 (2018-07-13)",
		"X-Mailer: WEB.DE Mail",
		"User-Agent: Evolution 3.36.5-0ubuntu1",
		"User-Agent: Microsoft-MacOutlook/16.43.20110804",
	}
)
