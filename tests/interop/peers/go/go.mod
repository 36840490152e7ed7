module kitls/interop/gopeer

go 1.19
