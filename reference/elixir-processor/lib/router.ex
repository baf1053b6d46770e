defmodule CovenantProcessor.Router do
  @moduledoc "The mochiweb loop: routing, problem documents, logging and metrics per request."
  alias CovenantProcessor.{Baml, Config, DB, Jobs, JSON, Log, Metrics, Problem, ProviderStates, Trace}

  @openapi File.read!(Path.expand("../priv/openapi.json", __DIR__))
  @external_resource Path.expand("../priv/openapi.json", __DIR__)
  @max_body 5 * 1024 * 1024

  def openapi, do: @openapi

  def loop(req) do
    started = System.monotonic_time()
    trace_id = Trace.trace_id_from(:mochiweb_request.get_header_value('traceparent', req))
    Log.set_trace_id(trace_id)

    method = method(req)
    raw_path = List.to_string(:mochiweb_request.get(:raw_path, req))
    path = raw_path |> String.split(["?", "#"], parts: 2) |> hd()
    segments = String.split(path, "/", trim: false) |> tl_safe()

    {route, {status, headers, body}} =
      try do
        dispatch(method, segments, req, trace_id)
      rescue
        e ->
          Log.error("unhandled error", %{error: Exception.message(e), path: path})
          {"unmatched", problem(500, "internal-error", "Internal Server Error", "an unexpected error occurred")}
      catch
        :exit, {:body_too_large, _} ->
          {route_of(segments), problem(413, "payload-too-large", "Payload Too Large", "request body exceeds #{@max_body} bytes", [{"connection", "close"}])}

        :exit, :normal ->
          exit(:normal)

        kind, reason ->
          Log.error("unhandled error", %{error: inspect({kind, reason}, limit: 8), path: path})
          {"unmatched", problem(500, "internal-error", "Internal Server Error", "an unexpected error occurred")}
      end

    seconds = (System.monotonic_time() - started) / System.convert_time_unit(1, :second, :native)
    Metrics.observe_request(method, route, status, seconds)

    Log.info("request", %{
      method: method,
      path: String.slice(path, 0, 300),
      route: route,
      status: status,
      duration_ms: Float.round(seconds * 1000, 3)
    })

    :mochiweb_request.respond({status, [{"server", "elixir-processor"} | headers], body}, req)
    Log.set_trace_id(nil)
    # After a refused oversized body the rest of it is still unread: close the connection.
    if status == 413, do: exit(:normal)
  end

  defp tl_safe([]), do: []
  defp tl_safe([_ | rest]), do: rest

  defp method(req) do
    case :mochiweb_request.get(:method, req) do
      m when is_atom(m) -> Atom.to_string(m)
      m when is_list(m) -> List.to_string(m)
      m when is_binary(m) -> m
    end
    |> then(fn m -> if m in ~w(GET HEAD POST PUT PATCH DELETE OPTIONS TRACE CONNECT), do: m, else: "OTHER" end)
  end

  # -- routing ---------------------------------------------------------------------

  defp route_of(["health"]), do: "/health"
  defp route_of(["metrics"]), do: "/metrics"
  defp route_of(["openapi.json"]), do: "/openapi.json"
  defp route_of(["api", "process"]), do: "/api/process"

  defp route_of(["api", "jobs", id]) when id != "" do
    if Config.fault?("missing-endpoint"), do: "unmatched", else: "/api/jobs/{id}"
  end

  defp route_of(["_pact", "provider-states"]) do
    if Config.get(:provider_states), do: "/_pact/provider-states", else: "unmatched"
  end

  defp route_of(_), do: "unmatched"

  defp allowed("/api/process"), do: ["POST"]
  defp allowed("/_pact/provider-states"), do: ["POST"]
  defp allowed(_), do: ["GET", "HEAD"]

  defp dispatch(method, segments, req, trace_id) do
    route = route_of(segments)

    cond do
      route == "unmatched" ->
        {route, problem(404, "not-found", "Not Found", "no route for this path")}

      method not in allowed(route) ->
        allow = Enum.join(allowed(route), ", ")
        {route, problem(405, "method-not-allowed", "Method Not Allowed", "this method is not allowed here; use #{allow}", [{"allow", allow}])}

      true ->
        {route, handle(route, segments, req, trace_id)}
    end
  end

  defp handle("/health", _segments, _req, trace_id) do
    db =
      case DB.query("SELECT 1", 3_000) do
        {:ok, _} -> "ok"
        {:error, msg} -> "error: " <> msg
      end

    extractor =
      case Baml.health(Config.get(:baml_url), trace_id) do
        :ok -> "ok"
        {:error, msg} -> "error: " <> msg
      end

    ok = db == "ok" and extractor == "ok"

    json(if(ok, do: 200, else: 503), %{
      "status" => if(ok, do: "ok", else: "error"),
      "service" => "elixir-processor",
      "checks" => %{"database" => db, "extractor" => extractor}
    })
  end

  defp handle("/metrics", _, _, _) do
    {200, [{"content-type", "text/plain; version=0.0.4; charset=utf-8"}], Metrics.render()}
  end

  defp handle("/openapi.json", _, _, _) do
    {200, [{"content-type", "application/json"}], @openapi}
  end

  defp handle("/api/process", _, req, trace_id) do
    with {:ok, body} <- read_json(req),
         {:ok, valid} <- validate(body) do
      case Jobs.accept(valid, trace_id) do
        {:ok, job_id} ->
          status = if Config.fault?("wrong-status"), do: 200, else: 202
          key = if Config.fault?("renamed-field"), do: "jobId", else: "job_id"
          json(status, %{key => job_id, "status" => "queued"})

        {:error, _msg} ->
          problem(503, "service-unavailable", "Service Unavailable", "the job could not be stored: database unavailable")
      end
    end
  end

  defp handle("/api/jobs/{id}", ["api", "jobs", raw_id], _req, _trace_id) do
    id = URI.decode(raw_id)

    if not Jobs.uuid?(id) do
      problem(404, "job-not-found", "Not Found", "no job with this id (job ids are UUIDs)")
    else
      case Jobs.get(id) do
        {:ok, job} ->
          key = if Config.fault?("renamed-field"), do: "jobId", else: "job_id"

          json(200, %{
            key => job.job_id,
            "event_id" => job.event_id,
            "status" => job.status,
            "error" => job.error
          })

        :not_found ->
          problem(404, "job-not-found", "Not Found", "no job with id #{String.downcase(id)}")

        {:error, _msg} ->
          problem(503, "service-unavailable", "Service Unavailable", "the database is unavailable")
      end
    end
  rescue
    ArgumentError -> problem(404, "job-not-found", "Not Found", "no job with this id")
  end

  defp handle("/_pact/provider-states", _, req, _trace_id) do
    with {:ok, body} <- read_json(req) do
      case ProviderStates.handle(body) do
        {:ok, value} ->
          Log.info("provider state applied", %{state: body["state"], action: body["action"] || "setup"})
          json(200, value)

        {:error, 400, detail} ->
          problem(400, "invalid-provider-state", "Bad Request", detail)

        {:error, status, detail} ->
          problem(status, "service-unavailable", "Service Unavailable", detail)
      end
    end
  end

  defp validate(body) do
    case Jobs.validate(body) do
      {:ok, v} -> {:ok, v}
      {:error, detail} -> problem(400, "validation-error", "Bad Request", detail)
    end
  end

  defp read_json(req) do
    body =
      case :mochiweb_request.recv_body(@max_body, req) do
        :undefined -> ""
        b when is_binary(b) -> b
        b -> IO.iodata_to_binary(b)
      end

    cond do
      String.trim(body) == "" ->
        problem(400, "malformed-json", "Bad Request", "request body is empty; expected a JSON object")

      true ->
        case JSON.decode(body) do
          {:ok, value} -> {:ok, value}
          {:error, _} -> problem(400, "malformed-json", "Bad Request", "request body is not valid JSON")
        end
    end
  end

  # -- responses -----------------------------------------------------------------

  defp json(status, body) do
    {status, [{"content-type", "application/json"}], JSON.encode!(body)}
  end

  defp problem(status, slug, title, detail, extra_headers \\ []) do
    {status, [{"content-type", "application/problem+json"} | extra_headers],
     JSON.encode!(Problem.body(status, slug, title, detail))}
  end
end
