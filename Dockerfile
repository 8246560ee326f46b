# syntax=docker/dockerfile:1
# One image serves every reportd subcommand (manager, generate, facade).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static binary: the runtime image has no libc. Time zone data is
# embedded in the binary (time/tzdata), so the image needs none.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/reportd .

FROM scratch
# CA certificates for S3, SMTP with TLS and OIDC issuers.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/reportd /reportd
# Non-root, matching the restricted Pod Security profile of the Job pods.
USER 65532:65532
ENTRYPOINT ["/reportd"]
CMD ["manager"]
