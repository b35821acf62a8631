# Sieve script written by catchall: one rule per alias of the plan.
require ["envelope", "copy", "reject"];

if envelope :is "to" "a=b/c{d}$e^f|g?h*i#j&k%l@example.com" {
    redirect "me@new.example";
    stop;
}
if envelope :is "to" "adobe@example.com" {
    redirect "me@new.example";
    stop;
}
if envelope :is "to" "family@example.com" {
    redirect :copy "me@new.example";
    redirect "anna@family.example";
    stop;
}
if envelope :is "to" "leaked@example.com" {
    reject "Mailbox disabled";
    stop;
}
if envelope :is "to" "news+heise@example.com" {
    redirect "me@new.example";
    stop;
}
if envelope :is "to" "o'brien@example.com" {
    redirect "me@new.example";
    stop;
}
if envelope :is "to" "price.$%{x}@example.com" {
    reject "Mailbox disabled";
    stop;
}
if envelope :is "to" "shop@xn--bcher-kva.example" {
    redirect "me@new.example";
    stop;
}

# Every other address: the catch-all.
redirect "catchall@new.example";
