defmodule CovenantProcessor.HTTPClient do
  @moduledoc "Outgoing HTTP through OTP's httpc; every call carries a traceparent."
  alias CovenantProcessor.Trace

  @type result :: {:ok, pos_integer(), [{binary(), binary()}], binary()} | {:error, binary()}

  @spec request(:get | :post, binary(), binary(), keyword()) :: result
  def request(method, url, trace_id, opts \\ []) do
    timeout = Keyword.get(opts, :timeout, 30_000)
    headers =
      [{'traceparent', String.to_charlist(Trace.traceparent(trace_id))},
       {'accept', String.to_charlist(Keyword.get(opts, :accept, "application/json"))},
       {'user-agent', 'covenant-elixir-processor'}]

    curl = String.to_charlist(url)

    req =
      case method do
        :get -> {curl, headers}
        :post -> {curl, headers, String.to_charlist(Keyword.get(opts, :content_type, "application/json")), Keyword.fetch!(opts, :body)}
      end

    http_opts = [
      timeout: timeout,
      connect_timeout: Keyword.get(opts, :connect_timeout, 5_000),
      autoredirect: Keyword.get(opts, :autoredirect, false),
      ssl: ssl_opts()
    ]

    try do
      case :httpc.request(method, req, http_opts, body_format: :binary) do
        {:ok, {{_v, status, _reason}, resp_headers, body}} ->
          {:ok, status, Enum.map(resp_headers, fn {k, v} -> {to_string(k), to_string(v)} end), body}

        {:error, reason} ->
          {:error, describe(reason)}
      end
    catch
      kind, reason -> {:error, describe({kind, reason})}
    end
  end

  defp ssl_opts do
    base = [
      verify: :verify_peer,
      depth: 4,
      customize_hostname_check: [match_fun: :public_key.pkix_verify_hostname_match_fun(:https)]
    ]

    try do
      [{:cacerts, :public_key.cacerts_get()} | base]
    rescue
      _ -> [{:cacertfile, '/etc/ssl/certs/ca-certificates.crt'} | base]
    end
  end

  defp describe({:failed_connect, info}) do
    reason =
      Enum.find_value(info, :unknown, fn
        {:inet, _, r} -> r
        _ -> nil
      end)

    "connection failed (#{inspect(reason)})"
  end

  defp describe(:timeout), do: "timed out"
  defp describe({:malformed_url, _, _}), do: "malformed url"
  defp describe({:bad_body_generator, _}), do: "bad request body"
  defp describe(other), do: inspect(other, limit: 8, printable_limit: 200)

  def header(headers, name) do
    Enum.find_value(headers, fn {k, v} -> if String.downcase(k) == name, do: v end)
  end
end

defmodule CovenantProcessor.Baml do
  @moduledoc """
  The BAML extractor client: `POST {base}/call/{Function}` with a JSON object of
  the function's arguments. Used by the job pipeline and by bin/call-extractor
  (the Pact consumer hook), so both send identical requests
  (Content-Type: application/json, Accept: application/json, traceparent).
  """
  alias CovenantProcessor.{HTTPClient, JSON}

  @spec call(binary(), binary(), map(), binary(), keyword()) ::
          {:ok, integer(), term() | nil} | {:error, binary()}
  def call(base_url, function, args, trace_id, opts \\ []) do
    url = String.trim_trailing(base_url, "/") <> "/call/" <> function
    body = JSON.encode!(args)

    case HTTPClient.request(:post, url, trace_id,
           body: body,
           timeout: Keyword.get(opts, :timeout, 120_000)
         ) do
      {:ok, status, _headers, resp} ->
        parsed =
          case JSON.decode(resp) do
            {:ok, v} -> v
            _ -> nil
          end

        {:ok, status, parsed}

      {:error, reason} ->
        {:error, reason}
    end
  end

  @doc "GET {base}/health -> :ok | {:error, msg}"
  def health(nil, _trace_id), do: {:error, "BAML_URL is not set"}

  def health(base_url, trace_id) do
    url = String.trim_trailing(base_url, "/") <> "/health"

    case HTTPClient.request(:get, url, trace_id, timeout: 3_000, connect_timeout: 2_000) do
      {:ok, 200, _, _} -> :ok
      {:ok, status, _, _} -> {:error, "extractor answered #{status}"}
      {:error, reason} -> {:error, "extractor unreachable: " <> reason}
    end
  end
end
