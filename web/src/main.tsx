import { render } from 'preact';
import './styles.css';
import { App } from './app';
import { applyTheme, savedTheme } from './theme';

applyTheme(savedTheme());
render(<App />, document.getElementById('app')!);
