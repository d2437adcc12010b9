import { useEffect, useState } from 'preact/hooks';
import { Link, navigate, useRoute } from './router.js';
import { signOut, storedKey } from './session.js';
import { LinkSignIn, linkToken, SignIn } from './pages/sign-in.js';
import { Operator } from './pages/operator.js';
import { ConversionPage, Conversions } from './pages/conversions.js';
import { JobPage, Jobs } from './pages/jobs.js';
import { Convert } from './pages/convert.js';
import { OverviewPage } from './pages/overview.js';
import { Settings } from './pages/settings.js';
import { Deliveries, DeliveryPage, EndpointPage, EventCatalog, Webhooks } from './pages/webhooks.js';

/** The pages and the paths that show them; the first is where /app lands. */
const SECTIONS = [
  { path: '/overview', label: 'Overview' },
  { path: '/conversions', label: 'Conversions' },
  { path: '/jobs', label: 'Jobs' },
  { path: '/convert', label: 'Convert' },
  { path: '/webhooks', label: 'Webhooks' },
  { path: '/settings', label: 'Settings' },
] as const;

function Page(props: { path: string }) {
  const { path } = props;
  const conversion = /^\/conversions\/(cnv_[0-9a-z]+)$/.exec(path);
  if (conversion) return <ConversionPage id={conversion[1]!} />;
  const job = /^\/jobs\/(job_[0-9a-z]+)$/.exec(path);
  if (job) return <JobPage id={job[1]!} />;
  if (path === '/overview') return <OverviewPage />;
  if (path === '/conversions') return <Conversions />;
  if (path === '/jobs') return <Jobs />;
  if (path === '/convert') return <Convert />;
  if (path === '/settings') return <Settings />;
  if (path === '/webhooks') return <Webhooks />;
  if (path === '/webhooks/deliveries') return <Deliveries />;
  if (path === '/webhooks/event-types') return <EventCatalog />;
  const endpoint = /^\/webhooks\/endpoints\/(ep_[0-9a-z]+)$/.exec(path);
  if (endpoint) return <EndpointPage id={endpoint[1]!} />;
  const delivery = /^\/webhooks\/deliveries\/(dlv_[0-9a-z]+)$/.exec(path);
  if (delivery) return <DeliveryPage id={delivery[1]!} />;
  return (
    <>
      <h1>Not found</h1>
      <p>
        Nothing here: <Link href={SECTIONS[0].path}>{SECTIONS[0].label}</Link>.
      </p>
    </>
  );
}

export function App() {
  const { path } = useRoute();
  const [signedIn, setSignedIn] = useState(storedKey() !== null);
  const [token, setToken] = useState(linkToken);
  const [linkRefused, setLinkRefused] = useState<string | undefined>();
  useEffect(() => {
    const update = () => {
      setSignedIn(storedKey() !== null);
      // A link's session has begun: leave the link behind.
      if (storedKey() !== null) setToken(undefined);
    };
    window.addEventListener('kiln:session', update);
    return () => window.removeEventListener('kiln:session', update);
  }, []);
  useEffect(() => {
    if (signedIn && (path === '/' || path === '/sign-in') && !token) navigate(SECTIONS[0].path);
  }, [signedIn, path, token]);
  // The page's title says where the reader is, for tabs, history and screen readers alike.
  useEffect(() => {
    if (path.startsWith('/operator')) return;
    const section = SECTIONS.find((s) => path.startsWith(s.path));
    document.title = signedIn ? `${section?.label ?? 'Kiln'} · Kiln` : 'Sign in · Kiln';
  }, [path, signedIn]);
  if (path.startsWith('/operator')) return <Operator path={path} />;
  if (token) {
    return (
      <LinkSignIn
        token={token}
        onFailed={(reason) => {
          setToken(undefined);
          setLinkRefused(reason);
        }}
      />
    );
  }
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} reason={linkRefused} />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span class="brand">Kiln</span>
        <nav aria-label="Sections">
          <ul>
            {SECTIONS.map((section) => (
              <li key={section.path}>
                <Link href={section.path} aria-current={path.startsWith(section.path) ? 'page' : undefined}>
                  {section.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="sign-out" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main">
        <Page path={path} />
      </main>
    </>
  );
}
