module predictflow.local/kindtools

go 1.22
